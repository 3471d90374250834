"""Alert rules carry test cases that the real `promtool test rules` runs: on admin
save, before each deploy and from `manage.py stack test-rules`."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from stacks.models import AlertRule, Deployment, Stack
from stacks.operations.execute import execute

pytestmark = [pytest.mark.django_db, pytest.mark.tools]

FAILING = [{"interval": "15s", "input_series": [{"series": 'up{job="x"}', "values": "0x10"}],
            "alert_rule_test": [{"eval_time": "2m", "alertname": "ServiceDown", "exp_alerts": []}]}]


def test_the_default_stacks_ship_tests_that_pass(defaults):
    out = StringIO()
    call_command("stack", "test-rules", "monitoring", stdout=out)
    assert "test case(s) of monitoring's alert rules passed" in out.getvalue()
    assert int(out.getvalue().split()[0]) >= 5


def test_a_failing_case_fails_the_command_with_promtools_message(defaults):
    AlertRule.objects.filter(name="ServiceDown").update(tests=FAILING)
    err = StringIO()
    with pytest.raises(CommandError, match="1 alert rule"):
        call_command("stack", "test-rules", "monitoring", stderr=err)
    assert "ServiceDown: FAILED" in err.getvalue()
    assert "alertname: ServiceDown" in err.getvalue()  # promtool's own words


def test_a_failing_case_refuses_the_deploy_and_changes_nothing(defaults):
    AlertRule.objects.filter(name="ServiceDown").update(tests=FAILING)
    stack = Stack.objects.get(slug="monitoring")
    d = execute(Deployment.objects.create(stack=stack))
    assert d.status == "failed"
    steps = [s.message for s in d.steps.all()]
    assert any(m.startswith("error: alert rule ServiceDown: promtool test rules:") for m in steps), steps
    assert not stack.directory.exists()  # refused before anything was written


def test_the_admin_refuses_a_rule_whose_tests_fail(client, defaults, django_user_model):
    import json

    admin = django_user_model.objects.create_superuser("ada", password="admin-pass")
    client.force_login(admin)
    rule = AlertRule.objects.get(name="ServiceDown")
    form = {"stack": rule.stack_id, "group": rule.group, "name": rule.name, "expr": rule.expr,
            "for_duration": rule.for_duration, "severity": rule.severity, "labels": "{}",
            "annotations": json.dumps(rule.annotations), "enabled": "on", "tests": json.dumps(FAILING)}
    r = client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form)
    assert r.status_code == 200
    assert "promtool test rules:" in r.content.decode()
    rule.refresh_from_db()
    assert rule.tests != FAILING
    form["tests"] = json.dumps(rule.tests)
    assert client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form).status_code == 302
