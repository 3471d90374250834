"""Rendering the default stacks: deterministic files that the real tools accept."""
import json
import shutil
import subprocess

import pytest
import yaml

from stacks.models import AlertRule, Service, Stack
from stacks.render import ALERTMANAGER_FILE, COMPOSE_FILE, PROMETHEUS_FILE, RULES_FILE, render_bundle
from stacks.validation.checks import errors, validate_stack

pytestmark = pytest.mark.django_db


def bundles():
    return {s.slug: render_bundle(s) for s in Stack.objects.all()}


def test_it_loads_the_three_tutorial_stacks(defaults):
    assert sorted(Stack.objects.values_list("slug", flat=True)) == ["app", "logging", "monitoring"]
    monitoring = set(Service.objects.filter(stack__slug="monitoring").values_list("name", flat=True))
    assert monitoring == {"prometheus", "grafana", "alertmanager", "node-exporter", "cadvisor"}
    logging = set(Service.objects.filter(stack__slug="logging").values_list("name", flat=True))
    assert logging == {"elasticsearch", "kibana", "fluentd", "logstash"}
    app = set(Service.objects.filter(stack__slug="app").values_list("name", flat=True))
    assert app == {"web", "api", "postgres", "redis"}


def test_it_renders_every_default_stack_without_problems(defaults):
    for slug, bundle in bundles().items():
        problems = validate_stack(Stack.objects.get(slug=slug), bundle)
        assert errors(problems) == [], f"{slug}: {problems}"


def test_it_renders_the_same_bytes_twice(defaults):
    first, second = bundles(), bundles()
    for slug in first:
        assert first[slug].files == second[slug].files
        assert first[slug].hash == second[slug].hash


@pytest.mark.tools
def test_promtool_and_amtool_accept_the_rendered_files(defaults, tmp_path):
    bundle = render_bundle(Stack.objects.get(slug="monitoring"))
    for path, text in bundle.files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    run = lambda *a: subprocess.run(a, cwd=tmp_path, capture_output=True, text=True)  # noqa: E731
    assert run("promtool", "check", "config", "--syntax-only", PROMETHEUS_FILE).returncode == 0
    result = run("promtool", "check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout
    result = run("amtool", "check-config", ALERTMANAGER_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tools
def test_docker_compose_accepts_every_rendered_compose_file(defaults, tmp_path):
    assert shutil.which("docker-compose"), "bin/setup installs Debian's docker-compose"
    for slug, bundle in bundles().items():
        d = tmp_path / slug
        for path, text in bundle.files.items():
            (d / path).parent.mkdir(parents=True, exist_ok=True)
            (d / path).write_text(text)
        result = subprocess.run(["docker-compose", "-p", slug, "config", "-q"], cwd=d, capture_output=True, text=True)
        assert result.returncode == 0, f"{slug}: {result.stderr}"


def test_annotations_keep_prometheus_templates_literally(defaults):
    rules = yaml.safe_load(render_bundle(Stack.objects.get(slug="monitoring")).files[RULES_FILE])
    down = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == "ServiceDown")
    assert down["annotations"]["description"] == "Target {{ $labels.instance }} of job {{ $labels.job }} is down"
    assert down["labels"] == {"severity": "critical"}


def test_the_tutorials_defects_are_fixed(defaults):
    b = bundles()
    compose = yaml.safe_load(b["monitoring"].files[COMPOSE_FILE])
    prom = compose["services"]["prometheus"]
    assert "--web.enable-admin-api" not in prom["command"]
    assert all(p.startswith("127.0.0.1:") for s in compose["services"].values() for p in s.get("ports", []))
    password = compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password not in ("admin", "") and len(password) >= 20
    am = yaml.safe_load(b["monitoring"].files[ALERTMANAGER_FILE])
    assert am["receivers"][0]["webhook_configs"][0]["url"].endswith("/webhooks/alertmanager/")
    assert "source_match\"" not in json.dumps(am) and "\"match\"" not in json.dumps(am)
    app = yaml.safe_load(b["app"].files[COMPOSE_FILE])
    assert app["services"]["web"]["logging"]["options"]["fluentd-async"] == "true"
    assert app["networks"]["observability"] == {"name": "observability", "external": True}
    dash = json.loads(b["monitoring"].files["grafana/dashboards/docker-compose.json"])
    assert "dashboard" not in dash and dash["title"] == "Docker Compose Monitoring"
    fluent = b["logging"].files["fluentd/conf/fluent.conf"]
    assert "<match app.**>" in fluent and "type_name" not in fluent


def test_secrets_are_masked_for_display(defaults):
    bundle = render_bundle(Stack.objects.get(slug="monitoring"))
    masked = bundle.masked_files()
    for value in bundle.secret_values:
        assert value in bundle.files[COMPOSE_FILE] + bundle.files[ALERTMANAGER_FILE] + bundle.files[PROMETHEUS_FILE]
        assert all(value not in text for text in masked.values())


def test_a_disabled_rule_is_not_rendered(defaults):
    AlertRule.objects.filter(name="ServiceDown").update(enabled=False)
    rules = render_bundle(Stack.objects.get(slug="monitoring")).files[RULES_FILE]
    assert "ServiceDown" not in rules and "HighCPUUsage" in rules


@pytest.mark.tools
def test_email_slack_and_webhook_receivers_render_to_what_amtool_accepts(defaults):
    from stacks.models import Receiver, Route

    stack = Stack.objects.get(slug="monitoring")
    email = Receiver.objects.create(stack=stack, name="oncall-mail", kind="email", email_to="oncall@example.com",
                                    email_from="alerts@example.com", smarthost="smtp.example.com:587")
    slack = Receiver.objects.create(stack=stack, name="team-slack", kind="slack",
                                    url="https://hooks.slack.example.com/services/T/B/X", slack_channel="#alerts")
    hook = Receiver.objects.create(stack=stack, name="other-hook", kind="webhook", url="http://example.com/hook")
    for i, r in enumerate([email, slack, hook], start=1):
        Route.objects.create(stack=stack, receiver=r, matchers=[f'team="t{i}"'], order=i, continue_matching=True)
    bundle = render_bundle(stack)
    assert errors(validate_stack(stack, bundle)) == []
    am = yaml.safe_load(bundle.files[ALERTMANAGER_FILE])
    by_name = {r["name"]: r for r in am["receivers"]}
    assert by_name["oncall-mail"]["email_configs"][0]["smarthost"] == "smtp.example.com:587"
    assert by_name["team-slack"]["slack_configs"][0]["channel"] == "#alerts"
    assert by_name["other-hook"]["webhook_configs"][0] == {"url": "http://example.com/hook", "send_resolved": True}
    heartbeat, *routes = am["route"]["routes"]  # the panel's heartbeat route comes first (stacks.notifications.path)
    assert heartbeat["matchers"] == ['alertname="PanelHeartbeat"'] and heartbeat["receiver"] == "control-panel"
    assert [r["receiver"] for r in routes] == ["control-panel", "oncall-mail", "team-slack", "other-hook"]
