"""Versions of a stack's definition: every change recorded with who and where
from, a diff in the rows' terms and of the rendered files, restored exactly;
the pages and commands that show them, and the rollback offers (deployment
page, alert page). The engine is not needed here: test_rollback.py deploys."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from stacks import versions
from stacks.defaults import load_defaults
from stacks.defaults.demo import mini_monitoring
from stacks.models import Alert, AlertRule, Deployment, Receiver, Route, Service, Stack, StackFile, StackVersion
from stacks.versions import snapshot

pytestmark = pytest.mark.django_db


def test_it_restores_every_row_of_a_stack_exactly(operator):
    load_defaults()
    stack = Stack.objects.get(slug="monitoring")
    stack.compose_extra = {"x-note": "before"}
    stack.save()
    StackFile.objects.create(stack=stack, path="extra/a.txt", content="a")
    v1 = versions.record(stack, StackVersion.CLI, user=operator)
    before = snapshot.take(stack)
    assert before["routes"] and before["receivers"] and before["alert_rules"] and before["scrape_jobs"]
    health_service = stack.services.first()

    # Change rows of every kind: delete, edit, add.
    Route.objects.filter(stack=stack).delete()
    Receiver.objects.filter(stack=stack).update(send_resolved=False)
    AlertRule.objects.filter(stack=stack).update(expr="vector(0)")
    stack.scrape_jobs.all().delete()
    stack.inhibit_rules.all().delete()
    stack.datasources.update(url="http://elsewhere:9090")
    stack.log_routes.all().delete()
    stack.files.update(content="changed")
    Service.objects.filter(stack=stack).update(environment={"X": "1"})
    Service.objects.create(stack=stack, name="intruder", image="busybox")
    stack.compose_extra = {"x-note": "after"}
    stack.save()
    v2 = versions.record(stack, StackVersion.ADMIN, user=operator)
    assert v2.number == 2 and v2.digest != v1.digest

    v3 = versions.restore(stack, v1, StackVersion.RESTORE, user=operator)
    assert snapshot.take(Stack.objects.get(pk=stack.pk)) == before
    assert v3.number == 3 and v3.source == "restore" and v3.digest == v1.digest
    # Services are updated in place: their health and alerts stay theirs.
    assert Service.objects.filter(pk=health_service.pk).exists()
    assert not Service.objects.filter(stack=stack, name="intruder").exists()


def test_an_unchanged_save_is_no_new_version(operator):
    stack = mini_monitoring(slug="same")
    v1 = versions.record(stack, StackVersion.ADMIN, user=operator)
    assert versions.record(stack, StackVersion.ADMIN, user=operator) == v1
    assert stack.versions.count() == 1


def _three_versions(operator):
    stack = mini_monitoring(slug="demo")
    versions.record(stack, StackVersion.CLI, note="import demo.yml")
    AlertRule.objects.filter(stack=stack).update(expr="up < 1")
    versions.record(stack, StackVersion.WEB, user=operator)
    Service.objects.filter(stack=stack, name="node-exporter").update(environment={"LEVEL": "2"})
    versions.record(stack, StackVersion.ADMIN, user=operator)
    return stack


def test_history_prints_one_version_a_line_newest_first(operator):
    _three_versions(operator)
    out = StringIO()
    call_command("stack", "history", "demo", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert operator.username in lines[0] and "admin" in lines[0] and "service node-exporter: environment changed" in lines[0]
    assert "web" in lines[1] and "alert rule test TargetDown: expr changed" in lines[1]
    assert "script" in lines[2] and "cli (import demo.yml)" in lines[2]


def test_restore_from_the_command_line_does_not_deploy(operator):
    stack = _three_versions(operator)
    out = StringIO()
    call_command("stack", "restore", "demo", "--version", "1", stdout=out)
    assert "Restored v1 of demo as v4" in out.getvalue()
    assert AlertRule.objects.get(stack=stack).expr == "up == 0"
    assert Service.objects.get(stack=stack, name="node-exporter").environment == {}
    assert stack.versions.get(number=4).source == "restore"
    assert not Deployment.objects.filter(stack=stack).exists()


def test_the_stack_page_lists_versions_with_the_diff_one_click_away(as_operator, operator):
    stack = _three_versions(operator)
    page = as_operator.get(f"/stacks/{stack.slug}/").content.decode()
    assert 'id="versions"' in page and f"/stacks/{stack.slug}/versions/2/" in page
    diff = as_operator.get(f"/stacks/{stack.slug}/versions/2/").content.decode()
    assert "alert rule test TargetDown: expr changed" in diff
    assert "-    expr: up == 0" in diff and "+    expr: up &lt; 1" in diff  # the rendered rules file's diff


def test_a_viewer_cannot_restore_but_an_operator_can(as_viewer, client, operator):
    stack = _three_versions(operator)
    assert as_viewer.post(f"/stacks/{stack.slug}/versions/1/restore/").status_code == 403
    client.force_login(operator)
    response = client.post(f"/stacks/{stack.slug}/versions/1/restore/")
    assert response.status_code == 302 and response["Location"].endswith("/versions/4/")
    assert AlertRule.objects.get(stack=stack).expr == "up == 0"


def _deployments(stack, user):
    v1 = versions.record(stack, StackVersion.CLI)
    first = Deployment.objects.create(stack=stack, status="succeeded", version=v1, requested_by=user,
                                      engine_name="local", images={"prometheus": {
                                          "image": "panel-local/prometheus:latest", "id": "sha256:" + "a" * 64,
                                          "digest": ""}})
    AlertRule.objects.filter(stack=stack).update(expr="up < 1")
    v2 = versions.record(stack, StackVersion.WEB, user=user)
    second = Deployment.objects.create(stack=stack, status="succeeded", version=v2, requested_by=user,
                                       engine_name="local")
    return first, second


def test_a_past_deployment_offers_to_roll_back_to_it_plan_first(as_operator, operator):
    stack = mini_monitoring(slug="offer")
    first, second = _deployments(stack, operator)
    page = as_operator.get(f"/deployments/{first.pk}/").content.decode()
    assert "Roll back to this" in page and f"/stacks/offer/plan/?rollback_to={first.pk}" in page
    assert "sha256:aaaaaaaaaaa" in page and "built or imported here" in page  # what it ran
    # The deployment running now is not offered.
    assert "Roll back to this" not in as_operator.get(f"/deployments/{second.pk}/").content.decode()


def test_the_rollback_offer_follows_the_role_on_that_stack(client, operator):
    """A user who operates this stack alone (a per-stack role, no global one) is
    offered the rollback; one who only views it is not."""
    from django.contrib.auth.models import User

    from stacks.models import StackRole

    stack = mini_monitoring(slug="offer")
    first, _ = _deployments(stack, operator)
    own = User.objects.create_user("petra", password="x")
    StackRole.objects.create(stack=stack, user=own, role="operator")
    looker = User.objects.create_user("vic", password="x")
    StackRole.objects.create(stack=stack, user=looker, role="viewer")
    client.force_login(own)
    assert "Roll back to this" in client.get(f"/deployments/{first.pk}/").content.decode()
    client.force_login(looker)
    page = client.get(f"/deployments/{first.pk}/")
    assert page.status_code == 200 and "Roll back to this" not in page.content.decode()


def test_an_alert_a_deploy_caused_offers_the_deployment_before_it(as_operator, operator):
    stack = mini_monitoring(slug="undo")
    first, second = _deployments(stack, operator)
    alert = Alert.objects.create(fingerprint="f1", name="TargetDown", status="firing", stack=stack,
                                 starts_at=second.created + timedelta(seconds=40), labels={"alertname": "TargetDown"})
    page = as_operator.get(f"/alerts/{alert.pk}/").content.decode()
    assert f"Deploy #{second.pk}" in page
    assert f"Roll back to the deployment before #{second.pk}" in page
    assert f"/stacks/undo/plan/?rollback_to={first.pk}" in page


def test_a_rollback_to_a_deployment_of_another_stack_is_refused(as_operator, operator):
    stack = mini_monitoring(slug="one")
    first, _second = _deployments(stack, operator)
    other = mini_monitoring(slug="two", prom_port=19190, am_port=19193)
    response = as_operator.post(f"/stacks/{other.slug}/deploy/", {"rollback_to": first.pk})
    assert response.status_code == 302
    assert not other.deployments.exists()
    assert f"Deployment #{first.pk} is not a deployment of two" in as_operator.get(response["Location"]).content.decode()


def test_an_old_deployment_without_a_version_cannot_be_rolled_back_to(operator):
    stack = mini_monitoring(slug="old")
    old = Deployment.objects.create(stack=stack, status="succeeded", created=timezone.now())
    with pytest.raises(Exception, match="ran before definitions were versioned"):
        call_command("stack", "rollback", "old", "--to", str(old.pk), stdout=StringIO())


def test_rollback_from_the_command_line_queues_a_deploy_of_that_deployment(operator):
    stack = mini_monitoring(slug="cli")
    first, _second = _deployments(stack, operator)
    out = StringIO()
    call_command("stack", "rollback", "cli", "--to", str(first.pk), stdout=out)  # on commit: a worker's
    queued = stack.deployments.get(status="queued")
    assert queued.action == "deploy" and queued.options == {"rollback_to": first.pk}
    assert f"Rolling cli back to #{first.pk} (v1)" in out.getvalue()
    assert f"queued as operation #{queued.pk}" in out.getvalue()


def test_the_timeline_names_a_rollback(as_operator, operator):
    stack = mini_monitoring(slug="named")
    first, _second = _deployments(stack, operator)
    rolled = Deployment.objects.create(stack=stack, status="succeeded", options={"rollback_to": first.pk})
    page = as_operator.get(f"/stacks/{stack.slug}/").content.decode()
    assert f"Deploy #{rolled.pk} by script (rollback to #{first.pk})" in page
