"""Rollback with the real engine and the real Prometheus (local images): the
issue's scenario (deploy; change a rule, deploy; change an environment value,
deploy; roll back to the first: the rule comes back as a reload, only the
service whose environment changed is recreated; the rollback is a version and
a deployment), a tag re-pointed to another image, an image gone, and a reload
Prometheus refuses."""
import json
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from stacks import versions
from stacks.defaults.demo import NODE, mini_monitoring
from stacks.engine.backend import get_backend
from stacks.engine.connect import using
from stacks.engine.plan import Desired
from stacks.models import AlertRule, Deployment, Network, Service, Stack, StackVersion
from stacks.operations.execute import execute
from stacks.operations.planning import plan_rollback
from stacks.render import render_bundle
from stacks.seams import broker
from stacks.tasks import compute_plan, plan_key
from stacks.tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def deploy(stack, user=None, **options):
    d = Deployment.objects.record(stack, "deploy", user=user, options=options)
    execute(d)
    d.refresh_from_db()
    return d


def ids(api, project):
    found = api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    return {c["Labels"]["com.docker.compose.service"]: c["Id"] for c in found}


def rules_loaded(prom_url):
    try:
        groups = requests.get(f"{prom_url}/api/v1/rules", timeout=2).json()["data"]["groups"]
    except (requests.RequestException, ValueError, KeyError):
        return []
    return [r["query"] for g in groups for r in g["rules"]]


@pytest.fixture
def mini(project):
    prom_port = free_port()
    stack = mini_monitoring(slug=project, prom_port=prom_port, am_port=free_port())
    stack.prom_url = f"http://127.0.0.1:{prom_port}"
    return stack


def test_a_rollback_restores_the_first_definition_as_a_reload_and_recreates_only_what_changed(
        mini, docker_api, operator):
    versions.record(mini, StackVersion.CLI, note="load-demo")
    first = deploy(mini, operator)
    assert first.status == "succeeded", first.error
    assert first.version.number == 1
    assert set(first.images) == {"prometheus", "alertmanager", "node-exporter"}
    assert first.images["prometheus"]["image"] == "panel-local/prometheus:latest"
    assert first.images["prometheus"]["id"].startswith("sha256:")
    assert first.images["prometheus"]["digest"] == ""  # imported here: no registry digest
    wait_until(lambda: "up == 0" in rules_loaded(mini.prom_url), 60, what="the first rule loaded")

    AlertRule.objects.filter(stack=mini).update(expr="up < 1")
    versions.record(mini, StackVersion.WEB, user=operator)
    second = deploy(mini, operator)
    assert second.status == "succeeded", second.error
    wait_until(lambda: "up < 1" in rules_loaded(mini.prom_url), 30, what="the changed rule loaded")

    Service.objects.filter(stack=mini, name="node-exporter").update(environment={"LEVEL": "2"})
    versions.record(mini, StackVersion.ADMIN, user=operator)
    third = deploy(mini, operator)
    assert third.status == "succeeded", third.error
    before = ids(docker_api, mini.slug)

    out = StringIO()
    call_command("stack", "history", mini.slug, stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert "admin" in lines[0] and operator.username in lines[0] and f"deployed by #{third.pk}" in lines[0]
    assert "web" in lines[1] and "cli (load-demo)" in lines[2]

    # The plan first, as the page shows it: a reload and one recreate; nothing changed by planning.
    _bundle, _problems, plan = plan_rollback(Stack.objects.get(pk=mini.pk), first.pk)
    assert any(line.startswith("service  reload prometheus") for line in plan.lines()), plan.lines()
    assert [a.service for a in plan.changes] == ["node-exporter"]
    assert AlertRule.objects.get(stack=mini).expr == "up < 1" and mini.versions.count() == 3

    rolled = deploy(Stack.objects.get(pk=mini.pk), operator, rollback_to=first.pk)
    assert rolled.status == "succeeded", rolled.error
    steps = [s.message for s in rolled.steps.all()]
    assert any(s.startswith("Reloaded prometheus configuration") for s in steps), steps
    after = ids(docker_api, mini.slug)
    assert after["prometheus"] == before["prometheus"]  # a reload: Prometheus keeps its container
    assert after["alertmanager"] == before["alertmanager"]
    assert after["node-exporter"] != before["node-exporter"]  # its environment changed back
    wait_until(lambda: "up == 0" in rules_loaded(mini.prom_url), 30, what="the first rule back")
    assert AlertRule.objects.get(stack=mini).expr == "up == 0"
    assert Service.objects.get(stack=mini, name="node-exporter").environment == {}
    version = rolled.version
    assert (version.number, version.source, version.note) == (4, "rollback", f"rollback to #{first.pk}")
    assert version.digest == first.version.digest
    assert rolled.images["prometheus"]["id"] == first.images["prometheus"]["id"]
    # The deployment page says so.
    out = StringIO()
    call_command("stack", "status", mini.slug, stdout=out)
    assert f"Deployment #{rolled.pk} (v4) ran:" in out.getvalue()
    assert first.images["node-exporter"]["id"] in out.getvalue()


def _committed_image(api, repo, tag, label):
    """A new local image (its own id) made from node-exporter's, tagged repo:tag."""
    c = api.create_container(NODE, command=["--version"])
    try:
        return api.commit(c["Id"], repository=repo, tag=tag, conf={"Labels": {"panel-test": label}})["Id"]
    finally:
        api.remove_container(c["Id"], force=True)


def test_a_rollback_runs_the_image_id_it_ran_even_when_its_tag_points_elsewhere_now(project, docker_api):
    repo, tag = f"panel-test/{project}", "stable"
    stack = Stack.objects.create(slug=project, name=project)
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="exporter", role="node-exporter", image=f"{repo}:{tag}", restart="no")
    old_id = _committed_image(docker_api, repo, tag, "old")
    try:
        first = deploy(stack)
        assert first.status == "succeeded", first.error
        assert first.images["exporter"]["id"] == old_id
        docker_api.tag(NODE, repo, tag, force=True)  # the tag now names another image
        new_id = docker_api.inspect_image(NODE)["Id"]
        second = deploy(stack)
        assert second.status == "succeeded", second.error
        assert docker_api.inspect_container(ids(docker_api, project)["exporter"])["Image"] == new_id

        rolled = deploy(stack, rollback_to=first.pk)
        assert rolled.status == "succeeded", rolled.error
        running = docker_api.inspect_container(ids(docker_api, project)["exporter"])
        assert running["Image"] == old_id  # what ran, not what the tag points to now
        assert rolled.images["exporter"] == {"image": f"{repo}:{tag}", "id": old_id, "digest": ""}

        # A plain deploy goes back to the tag; then the old image is removed: a
        # rollback to it is refused, by name, and changes nothing.
        assert deploy(stack).status == "succeeded"
        docker_api.remove_image(old_id, force=True)
        count = stack.versions.count()
        refused = deploy(stack, rollback_to=first.pk)
        assert refused.status == "failed"
        assert f"Image {old_id}" in refused.error and "no longer on engine local" in refused.error
        assert stack.versions.count() == count and refused.version is None
    finally:
        for ref in (f"{repo}:{tag}", old_id):
            try:
                docker_api.remove_image(ref, force=True)
            except Exception:  # noqa: BLE001 — gone already
                pass


def test_a_refused_reload_puts_the_last_good_files_back(mini, docker_api):
    """Prometheus refuses a rule file on /-/reload. Here promtool and Prometheus
    are the same Debian version, so no file promtool accepts is refused by this
    Prometheus: the test hands the engine (which runs no promtool; validation
    does, before it) a rule file promtool would refuse too. The refusal, the
    files written back and the second reload are all the real Prometheus's."""
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    wait_until(lambda: "up == 0" in rules_loaded(mini.prom_url), 60, what="the rule loaded")
    before = ids(docker_api, mini.slug)
    bundle = render_bundle(mini)
    rules = [p for p in bundle.files if p.startswith("prometheus/rules/")][0]
    good = bundle.files[rules]
    bundle.files[rules] = good.replace("expr: up == 0", "expr: up ==== 0")
    desired = Desired.from_bundle(mini.slug, mini.directory, bundle, dict(mini.services.values_list("name", "role")))
    backend, steps = get_backend("compose"), []
    with using(mini.engine):
        plan = backend.plan(desired, backend.observe(desired))
        assert [str(r) for r in plan.reloads] == [f"reload prometheus ({rules})"]
        with pytest.raises(Exception) as refused:
            backend.apply(plan, lambda message, kind="info": steps.append(message))
    assert "prometheus refused the new configuration" in str(refused.value)
    assert "were written back and reloaded" in str(refused.value)
    assert (mini.directory / rules).read_text() == good  # the last good file is back on disk
    assert any(s.startswith("Reloaded prometheus with the previous configuration") for s in steps), steps
    assert ids(docker_api, mini.slug)["prometheus"] == before["prometheus"]
    assert "up == 0" in rules_loaded(mini.prom_url)  # still evaluating the last good rule
    # The next deploy of the good rows changes nothing in Prometheus.
    again = deploy(mini)
    assert again.status == "succeeded", again.error


def test_the_roll_back_button_shows_the_plan_first_and_the_confirmed_plan_binds_it(mini, as_operator, monkeypatch):
    monkeypatch.setattr("stacks.tasks.run_operation.delay", lambda pk: None)  # carried out below, in-process
    versions.record(mini, StackVersion.CLI)
    first = deploy(mini)
    AlertRule.objects.filter(stack=mini).update(expr="up < 1")
    versions.record(mini, StackVersion.WEB)
    assert deploy(mini).status == "succeeded"

    page = as_operator.get(f"/deployments/{first.pk}/").content.decode()
    assert f"/stacks/{mini.slug}/plan/?rollback_to={first.pk}" in page
    first_page = as_operator.get(f"/stacks/{mini.slug}/plan/?rollback_to={first.pk}").content.decode()
    assert f"back to <a href=\"/deployments/{first.pk}/\">#{first.pk}</a>?" in first_page
    compute_plan(mini.pk, "tok-rb", first.pk)  # what the worker computes for that page
    html = as_operator.get(f"/stacks/{mini.slug}/plan/?token=tok-rb&rollback_to={first.pk}",
                           HTTP_HX_REQUEST="true").content.decode()
    assert "service  reload prometheus" in html and ">Roll back</button>" in html
    assert f'name="rollback_to" value="{first.pk}"' in html
    assert AlertRule.objects.get(stack=mini).expr == "up < 1"  # planning changed nothing
    shown = json.loads(broker.get(plan_key("tok-rb")))["plan"]

    as_operator.post(f"/stacks/{mini.slug}/deploy/", {"plan": shown["id"], "token": "tok-rb",
                                                      "rollback_to": first.pk}, HTTP_HX_REQUEST="true")
    d = Deployment.objects.get(stack=mini, status="queued")
    assert d.options == {"plan": shown["id"], "rollback_to": first.pk}
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    assert d.plan["id"] == shown["id"] and d.version.note == f"rollback to #{first.pk}"
    assert AlertRule.objects.get(stack=mini).expr == "up == 0"
    page = as_operator.get(f"/deployments/{d.pk}/").content.decode()
    assert f"rolled back to <a href=\"/deployments/{first.pk}/\">#{first.pk}</a>" in page


def test_a_rollback_refused_by_its_plan_leaves_the_definition_as_it_was(mini):
    first = deploy(mini)
    AlertRule.objects.filter(stack=mini).update(expr="up < 1")
    assert deploy(mini).status == "succeeded"
    count = mini.versions.count()
    refused = deploy(mini, rollback_to=first.pk, plan="0000000000000000")  # confirmed on another plan
    assert refused.status == "failed" and "The plan changed since you confirmed it" in refused.error
    assert AlertRule.objects.get(stack=mini).expr == "up < 1"
    assert mini.versions.count() == count and refused.version is None
    assert "The definition was left as it was." in [s.message for s in refused.steps.all()]
