"""The Django admin validates on save with the real tools, and changes nothing when it refuses."""
import pytest
from django.contrib.auth.models import User

from stacks.models import AlertRule, Service, Stack

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, defaults):
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-pw-pw-pw"))
    return client


def rule_form(rule, **changes):
    data = {"stack": rule.stack_id, "group": rule.group, "name": rule.name, "expr": rule.expr,
            "for_duration": rule.for_duration, "severity": rule.severity, "labels": "{}",
            "annotations": '{"summary": "s"}', "enabled": "on"}
    data.update(changes)
    return data


@pytest.mark.tools
def test_it_refuses_a_rule_promtool_refuses_with_promtools_words(admin_client):
    rule = AlertRule.objects.get(name="ServiceDown")
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", rule_form(rule, expr="up = = 0"))
    assert r.status_code == 200
    html = r.content.decode()
    assert "promtool:" in html and "parse error" in html
    rule.refresh_from_db()
    assert rule.expr == "up == 0"


def test_it_saves_a_good_rule(admin_client):
    rule = AlertRule.objects.get(name="ServiceDown")
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", rule_form(rule, expr="up == 0 or absent(up)"))
    assert r.status_code == 302
    rule.refresh_from_db()
    assert rule.expr == "up == 0 or absent(up)"


def test_it_refuses_a_service_change_that_clashes_with_another_stack(admin_client):
    svc = Service.objects.get(stack__slug="logging", name="kibana")
    data = {f.name: getattr(svc, f.name) for f in Service._meta.fields if f.name not in ("id",)}
    import json

    data = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in data.items()}
    data.update(stack=svc.stack_id, ports=json.dumps(["127.0.0.1:3000:5601"]), ui_port=5601)
    data = {k: ("" if v is None else v) for k, v in data.items()}
    r = admin_client.post(f"/admin/stacks/service/{svc.pk}/change/", data)
    assert r.status_code == 200
    assert "host port 3000/tcp is also published by monitoring/grafana" in r.content.decode()
    svc.refresh_from_db()
    assert svc.ports == ["127.0.0.1:5601:5601"]


def test_secret_values_are_never_shown(admin_client):
    from stacks.models import Secret

    secret = Secret.objects.get(name="grafana_admin_password")
    html = admin_client.get(f"/admin/stacks/secret/{secret.pk}/change/").content.decode()
    assert secret.value not in html
    assert Stack.objects.count() == 3


def test_it_adds_a_new_rule_once(admin_client):
    stack = Stack.objects.get(slug="monitoring")
    rule = AlertRule(stack=stack, group="extra", name="AlwaysOne", expr="vector(1) > 0", severity="info")
    r = admin_client.post("/admin/stacks/alertrule/add/", rule_form(rule))
    assert r.status_code == 302, r.content.decode()[:2000]
    assert AlertRule.objects.filter(name="AlwaysOne").count() == 1


def test_other_stacks_footprints_are_derived_once_not_on_every_save(admin_client):
    from stacks.models import StackFootprint

    Stack.objects.bulk_create([Stack(slug=f"extra{i}", name=f"extra{i}") for i in range(3)])
    rule = AlertRule.objects.get(name="ServiceDown")
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", rule_form(rule, expr="up == 0 or absent(up)"))
    assert r.status_code == 302
    assert StackFootprint.objects.filter(stack__slug__startswith="extra").count() == 3
