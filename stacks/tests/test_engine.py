"""The deploy engine against the real Docker engine, with Prometheus, Alertmanager
and node-exporter images built from Debian's binaries."""
import subprocess

import pytest
import requests

from stacks.defaults.demo import mini_monitoring
from stacks.models import AlertRule, Deployment, Service
from stacks.operations.execute import execute
from stacks.tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def deploy(stack, action="deploy", **options):
    d = Deployment.objects.create(stack=stack, action=action, options=options)
    execute(d)
    d.refresh_from_db()
    return d


def containers(api, project):
    found = api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    return {c["Labels"]["com.docker.compose.service"]: c for c in found}


@pytest.fixture
def mini(project):
    stack = mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())
    stack.prom_url = f"http://127.0.0.1:{Service.objects.get(stack=stack, name='prometheus').ports[0].split(':')[1]}"
    return stack


def targets(prom_url):
    try:
        data = requests.get(f"{prom_url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
    except requests.RequestException:
        return {}
    return {t["labels"]["job"]: t["health"] for t in data}


def test_it_deploys_a_monitoring_stack_that_scrapes_node_exporter(mini, docker_api):
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    steps = [s.message for s in d.steps.all()]
    assert f"Created network {mini.slug}_default" in steps
    assert any(s.startswith("Plan: create") for s in steps)
    running = containers(docker_api, mini.slug)
    assert set(running) == {"prometheus", "alertmanager", "node-exporter"}
    assert running["prometheus"]["Labels"]["com.docker.compose.container-number"] == "1"
    assert running["prometheus"]["Labels"]["com.docker.compose.oneoff"] == "False"
    assert (mini.directory / "docker-compose.yml").is_file()
    wait_until(lambda: targets(mini.prom_url).get("node") == "up", 60, what="node-exporter scraped")
    assert d.bundle_hash and "docker-compose.yml" in d.files


def test_a_second_deploy_changes_nothing(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    before = {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()}
    d = deploy(mini)
    assert d.status == "succeeded"
    assert "Plan: nothing to change" in [s.message for s in d.steps.all()]
    assert {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()} == before


def test_a_rule_change_reloads_prometheus_without_recreating_it(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    before = {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()}
    wait_until(lambda: targets(mini.prom_url), 30, what="Prometheus up")
    AlertRule.objects.filter(stack=mini).update(expr="up == 42", tests=[])  # its test cases expect up == 0
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    assert "Reloaded prometheus configuration (POST /-/reload)" in [s.message for s in d.steps.all()]
    assert {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()} == before
    rules = requests.get(f"{mini.prom_url}/api/v1/rules", timeout=5).json()["data"]["groups"][0]["rules"]
    assert rules[0]["query"] == "up == 42"


def test_a_changed_service_is_recreated_and_the_others_left_alone(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    before = {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()}
    Service.objects.filter(stack=mini, name="node-exporter").update(environment={"CHANGED": "1"})
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    after = {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()}
    assert after["node-exporter"] != before["node-exporter"]
    assert after["prometheus"] == before["prometheus"] and after["alertmanager"] == before["alertmanager"]


def test_a_failed_pull_leaves_the_previous_containers_running(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    before = {k: c["Id"] for k, c in containers(docker_api, mini.slug).items()}
    Service.objects.filter(stack=mini, name="node-exporter").update(image="registry.invalid/nope/node:1")
    d = deploy(mini)
    assert d.status == "failed"
    assert d.error.startswith("Cannot pull image registry.invalid/nope/node:1")
    now = containers(docker_api, mini.slug)
    assert {k: c["Id"] for k, c in now.items()} == before
    assert all(c["State"] == "running" for c in now.values())


def test_a_removed_service_is_removed(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    Service.objects.filter(stack=mini, name="alertmanager").delete()
    from stacks.models import Receiver

    Receiver.objects.filter(stack=mini).delete()
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    assert set(containers(docker_api, mini.slug)) == {"prometheus", "node-exporter"}


def exporter_ids(api, project):
    """{replica number: container id} of node-exporter."""
    found = api.containers(all=True, filters={"label": [f"com.docker.compose.project={project}",
                                                        "com.docker.compose.service=node-exporter"]})
    return {int(c["Labels"]["com.docker.compose.container-number"]): c["Id"] for c in found}


def test_scaling_adds_and_removes_replicas_and_keeps_the_others(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    first = exporter_ids(docker_api, mini.slug)
    Service.objects.filter(stack=mini, name="node-exporter").update(replicas=3)
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    assert "service  create node-exporter#3 (scale 1 → 3)" in d.plan["lines"]
    three = exporter_ids(docker_api, mini.slug)
    assert sorted(three) == [1, 2, 3] and three[1] == first[1]  # replica 1 kept, not recreated
    Service.objects.filter(stack=mini, name="node-exporter").update(replicas=1)
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    assert [line for line in d.plan["lines"] if "node-exporter" in line] == [
        "service  remove node-exporter#3 (scale 3 → 1)", "service  remove node-exporter#2 (scale 3 → 1)"]
    assert exporter_ids(docker_api, mini.slug) == {1: first[1]}


def test_an_unhealthy_dependency_fails_the_deploy_in_plain_words(mini, docker_api):
    Service.objects.filter(stack=mini, name="node-exporter").update(
        healthcheck={"test": ["CMD", "false"], "interval": "1s", "retries": 1})
    Service.objects.filter(stack=mini, name="prometheus").update(depends_on={"node-exporter": "service_healthy"})
    d = deploy(mini)
    assert d.status == "failed"
    assert "Dependency node-exporter is unhealthy" in d.error
    assert "prometheus" not in containers(docker_api, mini.slug)


def test_a_taken_host_port_is_reported(mini, docker_api):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        Service.objects.filter(stack=mini, name="node-exporter").update(ports=[f"127.0.0.1:{port}:9100"])
        d = deploy(mini)
    assert d.status == "failed"
    assert "host port it publishes is already taken" in d.error or "address already in use" in d.error


def test_docker_compose_sees_what_the_panel_deployed(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    ps = subprocess.run(["docker-compose", "-p", mini.slug, "ps", "-q"], cwd=mini.directory,
                        capture_output=True, text=True)
    assert ps.returncode == 0, ps.stderr
    assert sorted(ps.stdout.split()) == sorted(c["Id"] for c in containers(docker_api, mini.slug).values())
    services = subprocess.run(["docker-compose", "-p", mini.slug, "ps", "--services", "--filter", "status=running"],
                              cwd=mini.directory, capture_output=True, text=True)
    assert sorted(services.stdout.split()) == ["alertmanager", "node-exporter", "prometheus"]
    down = subprocess.run(["docker-compose", "-p", mini.slug, "down"], cwd=mini.directory,
                          capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert containers(docker_api, mini.slug) == {}
    assert docker_api.networks(names=[f"{mini.slug}_default"]) == []


def test_status_shows_containers_started_by_hand_with_docker_compose(mini, docker_api, tmp_path):
    from stacks.engine.operations import stack_status
    from stacks.render import render_bundle

    for path, text in render_bundle(mini).files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    up = subprocess.run(["docker-compose", "-p", mini.slug, "up", "-d", "node-exporter"], cwd=tmp_path,
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    rows = stack_status(mini.slug)
    assert [(r["service"], r["state"]) for r in rows] == [("node-exporter", "running")]


def test_stop_keeps_containers_and_down_removes_them(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    assert deploy(mini, "stop").status == "succeeded"
    states = {k: c["State"] for k, c in containers(docker_api, mini.slug).items()}
    assert states == {"prometheus": "exited", "alertmanager": "exited", "node-exporter": "exited"}
    d = deploy(mini, "down", volumes=True)
    assert d.status == "succeeded"
    assert containers(docker_api, mini.slug) == {}
    assert f"Removed volume {mini.slug}_prom_data" in [s.message for s in d.steps.all()]


def test_restart_one_service(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    d = deploy(mini, "restart", service="node-exporter")
    assert d.status == "succeeded"
    assert [s.message for s in d.steps.all()][0] == f"Restarted {mini.slug}_node-exporter_1"


def test_a_build_context_from_the_stack_files_is_built_and_run(project, docker_api):
    from stacks.models import Stack, StackFile

    stack = Stack.objects.create(slug=project, name=project)
    StackFile.objects.create(stack=stack, path="hello/Dockerfile",
                             content='FROM panel-local/busybox:latest\nCMD ["sh", "-c", "echo built-and-running; sleep 600"]\n')
    Service.objects.create(stack=stack, name="hello", build_context="./hello", image=f"{project}-hello:latest",
                           restart="no")
    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        assert any(s.message.startswith(f"Building {project}-hello:latest") for s in d.steps.all())
        c = containers(docker_api, project)["hello"]
        wait_until(lambda: b"built-and-running" in docker_api.logs(c["Id"]), 20, what="the built image to run")
    finally:
        docker_api.remove_image(f"{project}-hello:latest", force=True)


def test_the_logs_command_prints_a_services_last_lines(mini, docker_api):
    from io import StringIO

    from django.core.management import call_command

    assert deploy(mini).status == "succeeded"
    out = StringIO()
    wait_until(lambda: call_command("stack", "logs", mini.slug, "alertmanager", "--tail", "50", stdout=out)
               or "Listening on" in out.getvalue() or "listening" in out.getvalue().lower(), 20,
               what="Alertmanager's start-up lines")
    assert "Starting Alertmanager" in out.getvalue()


def test_the_logs_command_follows_a_container(project, docker_api):
    """`stack logs -f` keeps printing what the container writes after it started
    (the same loop as a Swarm service's: tests/test_swarm.py)."""
    from django.core.management import call_command

    from stacks.models import Network, Stack
    from stacks.tests.test_swarm import Enough, FirstLines

    stack = Stack.objects.create(slug=project, name=project)
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="ticker", image="panel-local/busybox", restart="no", command=[
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"])
    assert deploy(stack).status == "succeeded"
    wait_until(lambda: b"tick 2" in docker_api.logs(f"{project}_ticker_1"), 30, what="a first tick")
    out = FirstLines(4)
    with pytest.raises(Enough):
        call_command("stack", "logs", project, "ticker", "--tail", "1", "--follow", stdout=out)
    ticks = [int(line.rsplit(" ", 1)[1]) for line in out.lines]
    assert ticks == list(range(ticks[0], ticks[0] + 4)), out.lines


def test_the_logs_of_a_replicated_service_name_each_container(project, docker_api):
    """As `docker-compose logs`: every replica's lines, each with its container's
    name, in time order; followed, both keep coming."""
    from io import StringIO

    from django.core.management import call_command

    from stacks.models import Network, Stack
    from stacks.tests.test_swarm import Enough, FirstLines

    stack = Stack.objects.create(slug=project, name=project)
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="ticker", image="panel-local/busybox", restart="no", replicas=2,
                           command=["sh", "-c", "while true; do echo tick from $(hostname); sleep 0.3; done"])
    assert deploy(stack).status == "succeeded"
    for n in (1, 2):
        wait_until(lambda: docker_api.logs(f"{project}_ticker_{n}").count(b"tick") >= 3, 30,
                   what=f"replica {n}'s first ticks")
    out = StringIO()
    call_command("stack", "logs", project, "ticker", "--tail", "3", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6 and lines == sorted(lines), lines
    assert {line.split(" ")[1] for line in lines} == {f"{project}_ticker_1", f"{project}_ticker_2"}
    assert all(" | tick from " in line for line in lines)
    followed = FirstLines(8)
    with pytest.raises(Enough):
        call_command("stack", "logs", project, "ticker", "--tail", "0", "--follow", stdout=followed)
    assert {line.split(" ")[1] for line in followed.lines} == {f"{project}_ticker_1", f"{project}_ticker_2"}


def test_an_image_is_pulled_with_per_layer_progress(mini, docker_api, registry):
    Service.objects.create(stack=mini, name="sleeper", image=registry, restart="no")
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    steps = [s.message for s in d.steps.all()]
    assert f"Pulling {registry}" in steps and f"Pulled {registry}" in steps
    layers = [s for s in steps if s.startswith(f"{registry} layer ")]
    assert layers and any(s.endswith("Pull complete") for s in layers), steps
    assert containers(docker_api, mini.slug)["sleeper"]["Image"] == registry


def test_a_failed_pull_changes_no_file_on_disk(mini, docker_api):
    assert deploy(mini).status == "succeeded"
    before = (mini.directory / "prometheus/prometheus.yml").read_text()
    from stacks.models import ScrapeJob

    ScrapeJob.objects.create(stack=mini, job_name="extra", targets=["node-exporter:9100"])
    Service.objects.filter(stack=mini, name="node-exporter").update(image="registry.invalid/nope/node:2")
    d = deploy(mini)
    assert d.status == "failed"
    assert (mini.directory / "prometheus/prometheus.yml").read_text() == before


def test_the_plan_lists_a_cold_deploy_is_recorded_and_is_empty_afterwards(mini, docker_api):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("stack", "plan", mini.slug, stdout=out)
    text = out.getvalue()
    assert "service  create prometheus#1" in text and f"network  create {mini.slug}_default" in text
    assert "file     add prometheus/prometheus.yml" in text and "+++ b/prometheus/prometheus.yml" in text
    d = deploy(mini)
    assert d.status == "succeeded", d.error
    assert "service  create node-exporter#1" in d.plan["lines"]
    out = StringIO()
    call_command("stack", "plan", mini.slug, "--json", stdout=out)
    after = json.loads(out.getvalue())
    assert after["plan"]["empty"] is True and after["plan"]["lines"] == ["nothing to change"]


def test_the_stack_page_shows_the_plan_a_worker_computed(mini, docker_api, client, operator):
    from stacks.tasks import compute_plan

    assert deploy(mini).status == "succeeded"
    AlertRule.objects.filter(stack=mini).update(expr="up == 7", tests=[])  # its test cases expect up == 0
    client.force_login(operator)
    compute_plan(mini.pk, "tok-1")  # what the worker does when the page asks
    r = client.get(f"/stacks/{mini.slug}/plan/?token=tok-1", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 286  # there: htmx stops polling
    assert "service  reload prometheus (prometheus/rules/alerts.yml changed)" in html
    assert "+    expr: up == 7" in html and 'id="confirm-deploy"' in html
