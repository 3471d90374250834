"""An alert rule's promtool test cases edited in the admin as a table: what is
saved is the JSON the table says, keys the table does not show are kept as the
case's raw JSON, and promtool's verdict on a failing case shows on the form."""
import re

import pytest
from django.contrib.auth.models import User

from stacks.lib.rule_test_table import from_table, to_table
from stacks.models import AlertRule, Stack

CASE = {"interval": "1m",
        "input_series": [{"series": 'up{job="web", instance="a"}', "values": "0x10"}],
        "alert_rule_test": [{"eval_time": "5m", "alertname": "Down",
                             "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "web", "instance": "a"}}]},
                            {"eval_time": "0m", "alertname": "Down", "exp_alerts": []}]}


def test_it_reads_back_every_case_as_it_was():
    odd = [CASE,
           {**CASE, "external_labels": {"region": "eu"}},  # a key the table does not model
           {"input_series": [{"series": " up", "values": "1"}],  # a space the table would lose
            "alert_rule_test": [{"eval_time": "1m", "alertname": "Down",
                                 "exp_alerts": [{"exp_labels": {"a": "b"}, "exp_annotations": {"summary": "x"}}]}]},
           {"interval": "1m", "input_series": []}, "not a case"]
    rows = to_table(odd)
    assert rows[0]["advanced"] == "" and rows[1]["advanced"] and "external_labels" in rows[1]["advanced"]
    assert rows[2]["alert_rule_test"] == [] and "exp_annotations" in rows[2]["advanced"]
    assert from_table(rows) == (odd, [])


def test_it_says_which_line_is_not_key_value():
    rows = [{"interval": "", "input_series": [("up", "1")], "alert_rule_test": [("1m", "Down", "severity critical")],
             "advanced": ""}]
    assert from_table(rows)[1] == ["Case 1, expected labels: 'severity critical' is not key=value."]


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="root-pass"))
    return client


def _rule(tests=(), **fields):
    stack = Stack.objects.create(slug="tested", name="tested")
    return AlertRule.objects.create(stack=stack, name="Down", expr='up{job="web"} == 0', for_duration="1m",
                                    severity="critical", tests=list(tests), **fields)


def _form(rule, **fields):
    return {"stack": rule.stack_id, "group": rule.group, "name": rule.name, "expr": rule.expr,
            "for_duration": rule.for_duration, "severity": rule.severity, "enabled": "on",
            "labels__count": "0", "annotations__count": str(len(rule.annotations)),
            **{f"annotations__{part}_{i}": text for i, pair in enumerate(rule.annotations.items())
               for part, text in zip(("key", "value"), pair)}, **fields}


def _table(interval="1m", series=(), alerts=(), advanced=""):
    out = {"tests__cases": "1", "tests__0__interval": interval, "tests__0__advanced": advanced,
           "tests__0__series_count": str(len(series) + 1), "tests__0__alerts_count": str(len(alerts) + 1)}
    for j, (s, v) in enumerate(series):
        out |= {f"tests__0__series_{j}": s, f"tests__0__values_{j}": v}
    for j, (e, a, lab) in enumerate(alerts):
        out |= {f"tests__0__eval_time_{j}": e, f"tests__0__alertname_{j}": a, f"tests__0__labels_{j}": lab}
    return out


@pytest.mark.tools
def test_the_admin_saves_the_tables_cases_as_promtools_json(admin_client):
    rule = _rule()
    page = admin_client.get(f"/admin/stacks/alertrule/{rule.pk}/change/").content.decode()
    assert 'name="tests__0__series_0"' in page and "<script>" not in page and "onclick" not in page
    form = _form(rule, **_table(series=[('up{job="web", instance="a"}', "0x10")],
                                alerts=[("5m", "Down", "severity=critical\njob=web\ninstance=a"), ("0m", "Down", "")]))
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form)
    assert r.status_code == 302, re.findall(r"errorlist.{0,400}", r.content.decode(), re.S)
    rule.refresh_from_db()
    assert rule.tests == [CASE]
    page = admin_client.get(f"/admin/stacks/alertrule/{rule.pk}/change/").content.decode()
    assert 'name="tests__0__alertname_0" value="Down"' in page and "instance=a\njob=web\nseverity=critical" in page


@pytest.mark.tools
def test_the_admin_keeps_the_keys_the_table_does_not_show(admin_client):
    case = {**CASE, "external_labels": {"region": "eu"}, "name": "down after five minutes"}
    case["alert_rule_test"] = [{**CASE["alert_rule_test"][0], "exp_alerts": [
        {"exp_labels": {"severity": "critical", "job": "web", "instance": "a"},
         "exp_annotations": {"summary": "web is down"}}]}]
    rule = _rule([case], annotations={"summary": "web is down"})
    page = admin_client.get(f"/admin/stacks/alertrule/{rule.pk}/change/").content.decode()
    assert "external_labels" in page and "exp_annotations" in page  # in the case's raw JSON
    # Posting the page back as shown (the table's rows and the raw JSON) changes nothing.
    rest = to_table([case])[0]
    form = _form(rule, **_table(series=rest["input_series"], alerts=rest["alert_rule_test"],
                                advanced=rest["advanced"]))
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form)
    assert r.status_code == 302, re.findall(r"errorlist.{0,400}", r.content.decode(), re.S)
    rule.refresh_from_db()
    assert rule.tests == [case]


@pytest.mark.tools
def test_the_admin_shows_promtools_error_for_a_failing_case(admin_client):
    rule = _rule()
    form = _form(rule, **_table(series=[('up{job="web", instance="a"}', "1x10")],
                                alerts=[("5m", "Down", "severity=critical\njob=web\ninstance=a")]))
    r = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form)
    page = r.content.decode()
    assert r.status_code == 200 and "promtool test rules:" in page and "Down" in page
    assert 'value="1x10"' in page  # the table comes back as typed
    rule.refresh_from_db()
    assert rule.tests == []


def test_the_admin_says_a_line_is_not_key_value_and_keeps_it(admin_client):
    rule = _rule()
    form = _form(rule, **_table(series=[("up", "0x10")], alerts=[("5m", "Down", "severity critical")]))
    page = admin_client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form).content.decode()
    assert "is not key=value" in page and "severity critical</textarea>" in page
