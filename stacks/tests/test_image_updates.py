"""Images a team can trust, against a real private registry (Debian's
docker-registry, htpasswd login, TLS from a CA the test makes) and real pulls by
the engine: a private image pulls with the stored login and fails clearly with a
wrong one; an image pushed again under its tag is an update for exactly the
services that use it; applying it recreates only those, records both digests,
and a rollback runs the old digest again."""
import json
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command

from stacks.models import Deployment, Engine, ImageCheck, Registry, Service, Stack
from stacks.monitoring import updates
from stacks.operations.execute import execute
from stacks.seams import broker
from stacks.tasks import compute_plan, plan_key
from stacks.tests import registry_server
from stacks.tests.test_swarm import swarm  # noqa: F401 — the single-node Swarm fixture

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def deploy(stack, **options):
    d = Deployment.objects.record(stack, "deploy", options=options)
    execute(d)
    d.refresh_from_db()
    return d


def container_images(api, project):
    """{service: (container id, image id)} of the project's containers."""
    found = api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    return {c["Labels"]["com.docker.compose.service"]: (c["Id"], c["ImageID"]) for c in found}


def add_registry(reg, password=None):
    call_command("registry", "add", "team", reg.url, "--username", reg.username, "--password-stdin",
                 stdin=StringIO((password or reg.password) + "\n"), stdout=StringIO())
    Registry.objects.filter(name="team").update(ca_cert=reg.ca_pem)


@pytest.fixture
def app_stack(project, private_registry, docker_api):
    """web and worker run team/app:1, tools runs team/tools:1; only the registry has them."""
    reg = private_registry
    app, tools = f"{reg.host}/team/app:1", f"{reg.host}/team/tools:1"
    for ref in (app, tools):
        registry_server.push(docker_api, registry_server.image(docker_api, ref), auth=reg.auth)
    stack = Stack.objects.create(slug=project, name=project)
    for name, image in (("web", app), ("worker", app), ("tools", tools)):
        Service.objects.create(stack=stack, name=name, image=image, command=["sleep", "600"], restart="no")
    stack.app, stack.tools = app, tools
    return stack


def test_a_private_image_pulls_with_the_stored_login_and_fails_clearly_with_a_wrong_one(
        app_stack, private_registry, as_viewer):
    add_registry(private_registry, password="wrong-password")
    failed = deploy(app_stack)
    assert failed.status == "failed"
    assert f"the registry {private_registry.host} refused the login stored for it (user team)" in failed.error
    assert "wrong-password" not in failed.error
    steps = " ".join(failed.steps.values_list("message", flat=True))
    assert "refused the login" in steps and "wrong-password" not in steps
    page = as_viewer.get(f"/deployments/{failed.pk}/").content.decode()
    assert "refused the login" in page and "wrong-password" not in page

    add_registry(private_registry)
    done = deploy(app_stack)
    assert done.status == "succeeded", done.error
    assert f"Pulling {app_stack.app}" in " ".join(done.steps.values_list("message", flat=True))
    assert done.images["web"]["digest"].startswith(f"{private_registry.host}/team/app@sha256:")

    out = StringIO()
    call_command("registry", "list", stdout=out)
    assert "team" in out.getvalue() and "user team" in out.getvalue()
    assert private_registry.password not in out.getvalue()


def test_a_tag_pushed_again_is_an_update_for_exactly_its_services_applied_and_rolled_back(
        app_stack, private_registry, docker_api, as_operator, monkeypatch):
    add_registry(private_registry)
    first = deploy(app_stack)
    assert first.status == "succeeded", first.error
    old_digest = first.images["web"]["digest"]
    assert first.images["worker"]["digest"] == old_digest
    tools_digest = first.images["tools"]["digest"]

    updates.check([app_stack])
    assert not [i for i in updates.updates_of(app_stack) if i.available]

    # A new build pushed under the same tag.
    new_digest = registry_server.push(docker_api, registry_server.image(docker_api, app_stack.app),
                                      auth=private_registry.auth)
    updates.check([app_stack])
    found = {i.service: i for i in updates.updates_of(app_stack)}
    assert {s for s, i in found.items() if i.available} == {"web", "worker"}
    assert found["web"].latest == new_digest
    assert ImageCheck.objects.get(reference=app_stack.app).digest == new_digest

    out = StringIO()
    call_command("stack", "updates", app_stack.slug, stdout=out)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert "update available" in lines["web"] and "update available" in lines["worker"]
    assert "up to date" in lines["tools"]

    page = as_operator.get(f"/stacks/{app_stack.slug}/").content.decode()
    assert page.count('class="pill warn update"') == 2 and 'id="apply-updates"' in page
    overview = as_operator.get("/").content.decode()
    assert "update available" in overview and "web, worker" in overview

    # The plan first (as the page's worker computes it), then the deploy it binds.
    compute_plan(app_stack.pk, "upd-token", None, True)
    shown = json.loads(broker.get(plan_key("upd-token")))["plan"]
    assert any("recreate web#1" in line for line in shown["lines"]), shown["lines"]
    assert not any("tools" in line for line in shown["lines"])
    before = container_images(docker_api, app_stack.slug)
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", lambda pk: None)
    resp = as_operator.post(f"/stacks/{app_stack.slug}/deploy/",
                            {"update": "1", "plan": shown["id"], "token": "upd-token"})
    assert resp.status_code == 302
    updated = Deployment.objects.filter(stack=app_stack).order_by("-id").first()
    assert updated.options["update"] == updates.pins(app_stack) and updated.options["plan"] == shown["id"]
    execute(updated)
    updated.refresh_from_db()
    assert updated.status == "succeeded", updated.error
    assert updated.plan["id"] == shown["id"]
    lines = " ".join(updated.plan["lines"])
    assert "recreate web#1" in lines and "recreate worker#1" in lines and "tools" not in lines
    after = container_images(docker_api, app_stack.slug)
    assert after["tools"] == before["tools"]  # not touched
    assert after["web"][0] != before["web"][0] and after["worker"][0] != before["worker"][0]
    assert updated.images["web"]["digest"].endswith(new_digest)
    assert updated.images["worker"]["digest"].endswith(new_digest)
    assert updated.images["tools"]["digest"] == tools_digest
    assert first.images["web"]["digest"] == old_digest  # both digests recorded, one per deployment
    status = StringIO()
    call_command("stack", "status", app_stack.slug, stdout=status)
    assert new_digest in status.getvalue() and tools_digest.split("@")[1] in status.getvalue()
    assert not [i for i in updates.updates_of(app_stack) if i.available]
    # The tag follows: a plain deploy afterwards changes nothing.
    again = deploy(app_stack)
    assert again.status == "succeeded" and again.plan["empty"], again.plan["lines"]

    rolled = deploy(app_stack, rollback_to=first.pk)
    assert rolled.status == "succeeded", rolled.error
    now = container_images(docker_api, app_stack.slug)
    assert now["web"][1] == before["web"][1] and now["worker"][1] == before["worker"][1]  # the old image again
    assert rolled.images["web"]["digest"] == old_digest
    assert now["tools"] == before["tools"]

    # The team rolled back: the update is still listed, but an automatic one does
    # not bring the digest back behind its back…
    Service.objects.filter(stack=app_stack, name__in=["web", "worker"]).update(update_policy="apply")
    assert {i.service for i in updates.updates_of(app_stack) if i.available and i.rolled_back} == {"web", "worker"}
    assert [pins for stack, pins in updates.due() if stack.pk == app_stack.pk] == []
    out = StringIO()
    call_command("stack", "updates", app_stack.slug, stdout=out)
    assert "rolled back from it: applied by hand only" in out.getvalue()
    page = as_operator.get(f"/stacks/{app_stack.slug}/").content.decode()
    assert page.count("rolled back from it: applied by hand only") == 2
    # …while a build pushed since is applied as usual.
    newest = registry_server.push(docker_api, registry_server.image(docker_api, app_stack.app),
                                  auth=private_registry.auth)
    updates.check([app_stack])
    [(stack, pins)] = [(stack, pins) for stack, pins in updates.due() if stack.pk == app_stack.pk]
    assert set(pins) == {"web", "worker"} and pins["web"].endswith(newest)
    assert not [i for i in updates.updates_of(app_stack) if i.rolled_back]


def test_newer_version_tags_count_within_the_service_policy(project, private_registry, docker_api):
    reg = private_registry
    for tag in ("1.2.3", "1.2.4", "1.3.0", "2.0.0", "latest"):
        registry_server.push(docker_api, registry_server.image(docker_api, f"{reg.host}/team/lib:{tag}",
                                                               size=1024), auth=reg.auth)
    add_registry(reg)
    stack = Stack.objects.create(slug=project, name=project)
    policies = {"p": "patch", "m": "minor", "a": "any", "same": ""}
    for name, policy in policies.items():
        Service.objects.create(stack=stack, name=name, image=f"{reg.host}/team/lib:1.2.3", update_tags=policy,
                               command=["sleep", "600"], restart="no")
    assert deploy(stack).status == "succeeded"
    updates.check([stack])
    newer = {i.service: i.newer_tags for i in updates.updates_of(stack)}
    assert newer == {"p": ["1.2.4"], "m": ["1.3.0", "1.2.4"], "a": ["2.0.0", "1.3.0", "1.2.4"], "same": []}
    assert not ImageCheck.objects.get(reference=f"{reg.host}/team/lib:1.2.3").error


def test_swarm_nodes_pull_a_private_image_with_the_stored_login(project, private_registry, docker_api, swarm):
    """Single-node Swarm on the local engine: only the registry has the image,
    so the node's pull needs the login the manager hands it (X-Registry-Auth)."""
    reg = private_registry
    image = registry_server.push(docker_api, registry_server.image(docker_api, f"{reg.host}/team/svc:1"),
                                 auth=reg.auth)
    assert image
    stack = Stack.objects.create(slug=project, name=project, engine=Engine.objects.create(name=f"sw{project}",
                                                                                         swarm=True))
    Service.objects.create(stack=stack, name="svc", image=f"{reg.host}/team/svc:1", command=["sleep", "600"])
    add_registry(reg, password="wrong-password")
    failed = deploy(stack)
    assert failed.status == "failed" and "refused the login stored for it" in failed.error, failed.error
    add_registry(reg)
    try:
        done = deploy(stack)
        assert done.status == "succeeded", done.error
        steps = " ".join(done.steps.values_list("message", flat=True))
        assert f"Logged in to {reg.host} as team" in steps
        assert done.images["svc"]["digest"].startswith(f"{reg.host}/team/svc@sha256:")
    finally:
        subprocess.run(["docker", "stack", "rm", project], capture_output=True)
