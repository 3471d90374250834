"""On the real Docker engine with real Prometheus and Alertmanager (local images
built from Debian's binaries): a push to the repository reaches the running
Prometheus as a reload through the signed webhook, with the commit on the
version and the deployment; a forged push changes nothing; and a running
monitoring project whose Prometheus and Alertmanager bind-mount their configs
is adopted in place, its first deploy recreating nothing and writing no file."""
import hashlib
import hmac
import json
import subprocess
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from controlpanel.celery import app
from stacks.defaults.demo import mini_monitoring
from stacks.lib.yamlio import dump_yaml
from stacks.lib.yamlsafe import load_yaml
from stacks.models import Deployment, GitSource, Secret, Stack
from stacks.operations.execute import execute
from stacks.operations.planning import plan_deploy
from stacks.render import ALERTMANAGER_FILE, HEARTBEAT_FILE, render_bundle
from stacks.tests.conftest import free_port, wait_until
from stacks.tests.git_server import Repo

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def team_project(slug, directory, prom_port):
    """The files of a monitoring project as a team keeps them (the demo stack's,
    rendered), with no rows left behind."""
    stack = mini_monitoring(slug, prom_port=prom_port, am_port=free_port(), panel_url_host="127.0.0.1")
    bundle = render_bundle(stack)
    stack.delete()
    Secret.objects.filter(stack__isnull=True).exclude(name__startswith="panel_").delete()
    # A team's own files: without the panel's heartbeat (its rule file and route),
    # which only a project the panel deployed itself carries.
    files = {path: text for path, text in bundle.files.items() if path != HEARTBEAT_FILE}
    am = load_yaml(files[ALERTMANAGER_FILE])
    am["route"]["routes"] = [r for r in am["route"].get("routes", []) if "PanelHeartbeat" not in str(r)]
    if not am["route"]["routes"]:
        del am["route"]["routes"]
    files[ALERTMANAGER_FILE] = dump_yaml(am)
    for path, text in files.items():
        target = Path(directory) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return files


def rules(port):
    """The rule names Prometheus serves; none while it is (re)starting (the port
    is published before Prometheus answers on it)."""
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()
    except (requests.RequestException, ValueError):
        return set()
    return {r["name"] for g in answer["data"]["groups"] for r in g["rules"]}


def signed_push(client, slug, secret, headers=None):
    body = json.dumps({"ref": "refs/heads/main", "after": "f" * 40}).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = headers if headers is not None else {"HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}",
                                                   "HTTP_X_GITHUB_EVENT": "push"}
    return client.post(f"/webhooks/git/{slug}/", body, content_type="application/json", **headers)


def test_a_push_reaches_the_running_prometheus_as_a_reload(project, docker_api, tmp_path, client, eager):
    port = free_port()
    repo = Repo(tmp_path / "git")
    team_project(project, repo.work / "monitoring", port)
    first = repo.push({}, "monitoring as code")
    out = StringIO()
    err = StringIO()
    try:
        call_command("stack", "import", repo.url, "--git", "--name", project, "--path", "monitoring",
                     "--auto-deploy", stdout=out, stderr=err)
    except CommandError as exc:  # say which problem, not only how many
        raise AssertionError(f"{exc}\n{err.getvalue()}") from None
    call_command("stack", "sync", project, stdout=out, stderr=StringIO())  # the first commit deploys
    stack = Stack.objects.get(slug=project)
    first_deploy = stack.deployments.get()
    assert first_deploy.status == "succeeded", first_deploy.error
    assert first_deploy.version.commit == first
    wait_until(lambda: "TargetDown" in rules(port), timeout=60, what="the first rule")
    ids = {c["Id"] for c in docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})}

    # A forged push: nothing happens.
    rule_file = repo.work / "monitoring/prometheus/rules/alerts.yml"
    changed = rule_file.read_text().replace("alert: TargetDown", "alert: TargetGone")
    second = repo.push({"monitoring/prometheus/rules/alerts.yml": changed}, "rename the rule")
    assert signed_push(client, project, "not-the-secret").status_code == 403
    assert stack.deployments.count() == 1 and GitSource.objects.get(stack=stack).applied == first

    # The signed push: fetched, imported as version, deployed as a reload.
    secret = GitSource.objects.get(stack=stack).webhook_secret
    assert signed_push(client, project, secret).status_code == 202
    deploy = stack.deployments.order_by("-id").first()
    assert deploy.pk != first_deploy.pk and deploy.status == "succeeded", deploy.error
    assert deploy.version.commit == second and deploy.version.source == "git"
    assert "reload prometheus" in json.dumps(deploy.plan) and "recreate" not in json.dumps(deploy.plan)
    wait_until(lambda: "TargetGone" in rules(port), timeout=30, what="the pushed rule live")
    assert {c["Id"] for c in docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})} == ids
    git_out = StringIO()
    call_command("stack", "git", project, stdout=git_out)
    assert f"deployed: {second}" in git_out.getvalue() and f"latest seen: {second}" in git_out.getvalue()


def test_adopting_a_running_monitoring_project_recreates_nothing_and_writes_nothing(project, docker_api, tmp_path):
    port = free_port()
    directory = tmp_path / "team"
    team_project(project, directory, port)
    up = subprocess.run(["docker-compose", "-p", project, "up", "-d"], cwd=directory, capture_output=True,
                        text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    wait_until(lambda: "TargetDown" in rules(port), timeout=60, what="Prometheus up")
    before_files = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    def ids():
        found = docker_api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
        return {c["Labels"]["com.docker.compose.service"]: c["Id"] for c in found}

    before = ids()
    out = StringIO()
    call_command("stack", "adopt", project, stdout=out, stderr=StringIO())
    assert "kept as they run: prometheus, alertmanager, node-exporter" in out.getvalue()
    stack = Stack.objects.get(slug=project)
    assert stack.directory == directory.resolve()

    bundle, problems, plan = plan_deploy(stack)
    assert not plan.changes and not plan.files and not plan.reloads, plan.lines()
    d = Deployment.objects.create(stack=stack, action="deploy")
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    assert ids() == before  # nothing recreated
    after_files = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file() and p.name != ".panel-state.json"}
    assert after_files == before_files  # the team's files, byte for byte

    # A change of a row writes that file alone, named in the plan, and reloads Prometheus.
    rule = stack.alert_rules.get()
    rule.expr = "up == 0 or absent(up)"
    rule.save()
    _, _, plan = plan_deploy(stack)
    assert [f.path for f in plan.files] == ["prometheus/rules/alerts.yml"] and not plan.changes, plan.lines()
    assert [r.service for r in plan.reloads] == ["prometheus"]


def test_attaching_an_adopted_running_project_to_its_repository_recreates_nothing(project, docker_api, tmp_path):
    """The team's project is a clone of its repository, running; adopted in
    place and deployed, then attached to the repository: nothing changes, what
    runs is the commit, and a deploy recreates nothing and writes nothing."""
    port = free_port()
    repo = Repo(tmp_path / "git")
    team_project(project, repo.work, port)
    first = repo.push({}, "the team's monitoring")
    up = subprocess.run(["docker-compose", "-p", project, "up", "-d"], cwd=repo.work, capture_output=True,
                        text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    wait_until(lambda: "TargetDown" in rules(port), timeout=60, what="Prometheus up")

    def ids():
        found = docker_api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
        return {c["Labels"]["com.docker.compose.service"]: c["Id"] for c in found}

    call_command("stack", "adopt", project, stdout=StringIO(), stderr=StringIO())
    stack = Stack.objects.get(slug=project)
    d = Deployment.objects.create(stack=stack, action="deploy")
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    before = ids()
    files = {p: p.read_bytes() for p in repo.work.rglob("*") if p.is_file() and ".git" not in p.parts}

    out = StringIO()
    call_command("stack", "git-attach", project, repo.url, stdout=out, stderr=StringIO())
    assert "nothing changed" in out.getvalue(), out.getvalue()
    stack = Stack.objects.get(slug=project)
    assert stack.directory == repo.work.resolve()
    git_out = StringIO()
    call_command("stack", "git", project, stdout=git_out)
    assert f"deployed: {first}" in git_out.getvalue() and f"definition: {first}" in git_out.getvalue()
    _, _, plan = plan_deploy(stack)
    assert not plan.changes and not plan.files and not plan.reloads, plan.lines()
    d = Deployment.objects.create(stack=stack, action="deploy")
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    assert ids() == before  # nothing recreated
    assert {p: p.read_bytes() for p in repo.work.rglob("*") if p.is_file() and ".git" not in p.parts} == files
