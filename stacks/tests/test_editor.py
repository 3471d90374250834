"""The stack edit page: its Compose file as text, checked live by the deploy's
validation, saved as rows; problems at the line of the key they are about."""
import pytest

from stacks.adoption import editing
from stacks.adoption.importer import import_compose
from stacks.lib.yaml_lines import annotate, key_lines, line_of
from stacks.models import AuditRecord, Secret, Service, ServiceHealth, Stack

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
TEXT = ("services:\n  web:\n    image: nginx\n    command: [nginx, -g, 'daemon off;', '$${public_url}']\n"
        "    environment: {PASSWORD: '$${secret:web_password}'}\n    volumes: ['data:/data']\n"
        "  cache:\n    image: redis:7\nvolumes:\n  data: {}\n")


@pytest.fixture
def stack(db):
    stack = import_compose(TEXT, "edited")
    Secret.objects.create(name="web_password", value="s3cret-value", stack=stack)  # secrets are the stack's own
    return stack


def test_it_finds_the_line_of_the_key_a_problem_names():
    text = "services:\n  web:\n    image: nginx\n    restart_policy: always\n"
    lines = key_lines(text)
    assert line_of("services.web.restart_policy: Compose has no key 'restart_policy' here", lines) == 4
    assert line_of("error: service web: something", lines) == 2
    assert line_of("services.web.nope.deeper: x", lines) == 2
    assert line_of("line 3: bad indentation", lines) == 3
    numbered, general = annotate(text, ["services.web.restart_policy: unknown", "somewhere else"])
    assert numbered[3]["problems"] == ["services.web.restart_policy: unknown"] and general == ["somewhere else"]


def test_its_text_reads_back_as_the_same_rows(stack):
    text = editing.compose_text(stack)
    assert "${public_url}" in text.replace("$$", "$") and "${secret:web_password}" in text.replace("$$", "$")
    assert not [p for p in editing.check(stack, text) if p.startswith("error")]
    assert "s3cret-value" not in text
    before = {s.name: (s.pk, s.image, s.command, s.environment, s.volumes) for s in stack.services.all()}
    saved, _ = editing.save(stack, text)
    assert saved
    assert {s.name: (s.pk, s.image, s.command, s.environment, s.volumes) for s in stack.services.all()} == before


def test_an_edit_keeps_the_rows_of_the_services_it_keeps(stack):
    web = stack.services.get(name="web")
    ServiceHealth.objects.create(service=web, state="running")
    text = editing.compose_text(stack).replace("image: nginx", "image: nginx:1.27").replace(
        "  cache:\n    image: redis:7\n", "")
    saved, problems = editing.save(stack, text)
    assert saved, problems
    web.refresh_from_db()
    assert web.image == "nginx:1.27" and ServiceHealth.objects.filter(service=web).exists()
    assert list(stack.services.values_list("name", flat=True)) == ["web"]
    assert AuditRecord.objects.filter(action="edit", target="stack edited").exists()


def test_a_check_changes_nothing(stack):
    problems = editing.check(stack, "services:\n  web:\n    image: nginx\n    depends_on: [db]\n")
    assert any("depends on 'db'" in p for p in problems)
    assert set(stack.services.values_list("name", flat=True)) == {"web", "cache"}


def test_the_page_checks_live_and_shows_problems_at_their_lines(as_operator, stack):
    page = as_operator.get("/stacks/edited/").content.decode()
    assert 'href="/stacks/edited/edit/"' in page
    page = as_operator.get("/stacks/edited/edit/").content.decode()
    assert "image: nginx" in page and "alert rules" in page
    bad = "services:\n  web:\n    image: nginx\n    restart_policy: always\n"
    r = as_operator.post("/stacks/edited/edit/", {"compose": bad, "check": "1"}, **HX)
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert "line 4</a>: error: services.web.restart_policy: Compose has no key &#x27;restart_policy&#x27; here" in html


def test_a_save_with_errors_keeps_the_rows_and_says_why(as_operator, stack):
    r = as_operator.post("/stacks/edited/edit/", {"compose": "services:\n  web:\n    ports: [nope]\n"})
    assert r.status_code == 200 and 'id="problems"' in r.content.decode()
    assert set(Stack.objects.get(slug="edited").services.values_list("name", flat=True)) == {"web", "cache"}


def test_a_save_goes_back_to_the_stack(as_operator, stack):
    r = as_operator.post("/stacks/edited/edit/", {"compose": "services:\n  web:\n    image: nginx:2\n"})
    assert r.status_code == 302 and r["Location"] == "/stacks/edited/"
    assert Service.objects.get(stack__slug="edited").image == "nginx:2"


def test_a_viewer_cannot_edit(as_viewer, stack):
    assert as_viewer.get("/stacks/edited/edit/").status_code == 403
    assert as_viewer.post("/stacks/edited/edit/", {"compose": "services: {}\n"}).status_code == 403


def test_the_admin_edits_a_rules_labels_and_annotations_as_rows(client, db):
    from django.contrib.auth.models import User

    from stacks.models import AlertRule

    admin = User.objects.create_superuser("root", password="root-pass")
    client.force_login(admin)
    stack = Stack.objects.create(slug="ruled", name="ruled")
    rule = AlertRule.objects.create(stack=stack, name="Down", expr="up == 0", labels={"severity": "critical"},
                                    annotations={"summary": "down"})
    page = client.get(f"/admin/stacks/alertrule/{rule.pk}/change/").content.decode()
    assert 'name="labels__key_0" value="severity"' in page and 'name="annotations__value_0" value="down"' in page
    form = {"stack": stack.pk, "group": rule.group, "name": "Down", "expr": "up == 0", "for_duration": "1m",
            "severity": "critical", "enabled": "on", "tests": "[]",
            "labels__count": "3", "labels__key_0": "severity", "labels__value_0": "critical",
            "labels__key_1": "team", "labels__value_1": "ops", "labels__key_2": "",
            "annotations__count": "2", "annotations__key_0": "", "annotations__value_0": "gone",
            "annotations__key_1": "summary", "annotations__value_1": "{{ $labels.instance }} is down"}
    r = client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", form)
    assert r.status_code == 302, r.content.decode()[:3000]
    rule.refresh_from_db()
    assert rule.labels == {"severity": "critical", "team": "ops"}
    assert rule.annotations == {"summary": "{{ $labels.instance }} is down"}


@pytest.mark.tools
def test_promtools_line_in_a_generated_file_is_said_as_the_rule_it_concerns():
    from stacks.lib.yaml_lines import locate_tool_message
    from stacks.models import AlertRule
    from stacks.validation.checks import check_rule

    message = check_rule(AlertRule(name="HighCPU", expr="rate(x[5m] > 1", group="g", labels={}, annotations={}))
    assert "alert rule HighCPU, expr: " in message and "rule.yml: 5" not in message
    am = "route:\n  receiver: a\n  routes:\n  - receiver: team\n    matchers: [bad]\nreceivers:\n- name: a\n"
    assert locate_tool_message("alertmanager/alertmanager.yml: 5:5: bad matcher", am) == \
        "route routes.0 (receiver team): bad matcher"
