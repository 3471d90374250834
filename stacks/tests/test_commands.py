"""`manage.py alerts list` and `manage.py adduser`, as scripts use them."""
import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from stacks.models import Alert, Stack

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def alerts(defaults):
    stack = Stack.objects.get(slug="monitoring")
    Alert.objects.create(fingerprint="a", starts_at="2026-11-24T10:00Z", status="firing", name="ServiceDown",
                         severity="critical", stack=stack, service=stack.services.get(name="prometheus"),
                         annotations={"summary": "prometheus is down"})
    Alert.objects.create(fingerprint="b", starts_at="2026-11-24T09:00Z", status="resolved", name="HighCPUUsage",
                         severity="warning", resolved_at="2026-11-24T09:30Z")


def test_alerts_list_prints_one_line_per_alert(alerts):
    lines = run("alerts", "list").splitlines()
    assert len(lines) == 2
    assert "firing" in lines[0] and "ServiceDown" in lines[0] and "monitoring/prometheus" in lines[0]
    assert "prometheus is down" in lines[0]
    assert "resolved" in lines[1] and "HighCPUUsage" in lines[1]


def test_alerts_list_filters_by_status_as_json(alerts):
    data = json.loads(run("alerts", "list", "--status", "resolved", "--json"))
    assert [(a["name"], a["status"], a["stack"]) for a in data] == [("HighCPUUsage", "resolved", None)]
    assert data[0]["resolved_at"].startswith("2026-11-24T09:30")


def test_alerts_list_refuses_an_unknown_status(alerts):
    with pytest.raises(CommandError):
        run("alerts", "list", "--status", "burning")


def test_adduser_creates_an_operator_who_can_deploy_and_use_the_admin(db):
    out = run("adduser", "ana", "--role", "operator")
    password = out.strip().rsplit(" / ", 1)[1]
    user = User.objects.get(username="ana")
    assert user.check_password(password) and user.is_staff
    assert user.has_perm("stacks.deploy_stack") and user.has_perm("stacks.change_alertrule")


def test_adduser_creates_a_viewer_who_cannot_deploy(db):
    run("adduser", "vic")
    user = User.objects.get(username="vic")
    assert not user.is_staff and user.has_perm("stacks.view_stack") and not user.has_perm("stacks.deploy_stack")
