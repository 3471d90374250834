"""Swarm-mode stacks on a single-node Swarm initialised on the local engine (and
left again): services, configs and secrets as `docker stack deploy` makes them,
so that `docker stack services/ps/rm` agree with the panel.

Ports are published in host mode: the ingress routing mesh does not answer on
this machine (no vxlan), so the test reaches Prometheus on the node's own port."""
import fcntl
import io
import subprocess

import pytest
import requests

from stacks.defaults.demo import mini_monitoring
from stacks.models import AlertRule, Deployment, Engine, Service
from stacks.operations.execute import execute
from stacks.tests.conftest import free_port, wait_until
from stacks.tests.second_engine import SWARM_LOCK

pytestmark = [pytest.mark.docker]


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture
def swarm(docker_api):
    with open(SWARM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was = docker_api.info()["Swarm"]["LocalNodeState"]
        if was != "active":
            sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        try:
            yield
        finally:
            if was != "active":
                sh("docker", "swarm", "leave", "--force")


def get(url):
    try:
        return requests.get(url, timeout=2)
    except requests.RequestException:
        return None


def deploy(stack):
    d = execute(Deployment.objects.create(stack=stack, action="deploy"))
    d.refresh_from_db()
    return d


def versions(slug):
    out = sh("docker", "service", "ls", "--filter", f"label=com.docker.stack.namespace={slug}",
             "--format", "{{.Name}}")
    return {name: sh("docker", "service", "inspect", name, "--format", "{{.Version.Index}}").strip()
            for name in out.split()}


def test_a_stack_deploys_as_swarm_services_that_the_docker_cli_agrees_with(db, swarm, settings):
    settings.PANEL_SWARM_PUBLISH_MODE = "host"
    prom_port = free_port()
    stack = mini_monitoring(slug="swarmdemo", prom_port=prom_port, am_port=free_port())
    stack.engine = Engine.objects.create(name="cluster", swarm=True)
    stack.save()
    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        services = sh("docker", "stack", "services", "swarmdemo", "--format", "{{.Name}} {{.Replicas}}")
        assert {line.split()[0] for line in services.splitlines()} == {
            "swarmdemo_prometheus", "swarmdemo_alertmanager", "swarmdemo_node-exporter"}
        assert all(line.endswith("1/1") for line in services.splitlines()), services
        # What ran, from the service specs: the reference as rendered and the local image's id.
        assert set(d.images) == {"prometheus", "alertmanager", "node-exporter"}
        assert d.images["prometheus"]["image"] == "panel-local/prometheus:latest"
        assert d.images["prometheus"]["id"] == sh("docker", "image", "inspect", "panel-local/prometheus:latest",
                                                  "--format", "{{.Id}}").strip()
        assert "Running" in sh("docker", "stack", "ps", "swarmdemo", "--format", "{{.CurrentState}}")
        configs = sh("docker", "config", "ls", "--filter", "label=com.docker.stack.namespace=swarmdemo",
                     "--format", "{{.Name}}")
        assert "swarmdemo_prometheus_prometheus_yml_" in configs
        secrets = sh("docker", "secret", "ls", "--filter", "label=com.docker.stack.namespace=swarmdemo",
                     "--format", "{{.Name}}")
        assert "swarmdemo_alertmanager_alertmanager_yml_" in secrets  # it holds the webhook token
        wait_until(lambda: (r := get(f"http://127.0.0.1:{prom_port}/-/ready")) is not None and r.ok, 60,
                   what="Prometheus in its Swarm task")
        rules = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5).json()
        assert "TargetDown" in str(rules)
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("stack", "status", "swarmdemo", stdout=out)
        node = sh("docker", "node", "ls", "--format", "{{.Hostname}}").split()[0]
        assert "swarmdemo_prometheus.1" in out.getvalue() and node in out.getvalue()

        # No change: no service is touched.
        before = versions("swarmdemo")
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        assert d.steps.filter(message="Plan: nothing to change").exists()
        assert versions("swarmdemo") == before

        # A rule change: a new config, Prometheus rolled, the old config removed.
        old_rules = [c for c in configs.split() if "rules_alerts" in c]  # the changed file (the heartbeat's stays)
        AlertRule.objects.filter(stack=stack, name="TargetDown").update(expr="up != 1")
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        after = versions("swarmdemo")
        assert after["swarmdemo_prometheus"] != before["swarmdemo_prometheus"]
        assert after["swarmdemo_alertmanager"] == before["swarmdemo_alertmanager"]
        assert d.steps.filter(kind="progress", message__contains="swarmdemo_prometheus.1 task").exists()
        configs = sh("docker", "config", "ls", "--filter", "label=com.docker.stack.namespace=swarmdemo",
                     "--format", "{{.Name}}")
        assert old_rules and not set(old_rules) & set(configs.split())
        assert d.steps.filter(message__startswith="Removed unused config").exists()
        wait_until(lambda: "up != 1" in getattr(get(f"http://127.0.0.1:{prom_port}/api/v1/rules"), "text", ""),
                   60, what="the new rule")

        # A bad update rolls back, and the deployment says so.
        Service.objects.filter(stack=stack, name="prometheus").update(
            command=["--config.file=/etc/prometheus/prometheus.yml", "--no-such-flag"])
        d = deploy(stack)
        assert d.status == "failed"
        assert "rolled back" in d.error
        args = sh("docker", "service", "inspect", "swarmdemo_prometheus", "--format",
                  "{{json .Spec.TaskTemplate.ContainerSpec.Args}}")
        assert "--no-such-flag" not in args
        wait_until(lambda: (r := get(f"http://127.0.0.1:{prom_port}/-/ready")) is not None and r.ok, 60,
                   what="Prometheus back on its previous spec")
    finally:
        subprocess.run(["docker", "stack", "rm", "swarmdemo"], capture_output=True)
        wait_until(lambda: not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=swarmdemo"),
                   60, what="docker stack rm")
    # docker stack rm found everything the panel made: nothing of the stack is left.
    assert not sh("docker", "config", "ls", "-q", "--filter", "label=com.docker.stack.namespace=swarmdemo")
    assert not sh("docker", "secret", "ls", "-q", "--filter", "label=com.docker.stack.namespace=swarmdemo")
    from stacks.engine.backend import get_backend

    assert get_backend("swarm").status("swarmdemo") == []


def test_the_stack_page_shows_each_task_and_its_node(db, swarm, client, viewer):
    """The health poll asks the Swarm for the tasks; the page (and its refresh)
    shows each task's slot, node and state, as `docker stack ps` does; the tasks'
    containers are sampled for the resource graphs."""
    from stacks.models import Network, ResourceSample, Stack
    from stacks.monitoring.health import poll_all

    stack = Stack.objects.create(slug="swarmpage", name="swarmpage",
                                 engine=Engine.objects.create(name="cluster", swarm=True))
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="web", image="panel-local/busybox", command=["sleep", "600"],
                           replicas=2, restart="no")
    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        poll_all(stack.engine)
        assert ResourceSample.objects.filter(service__stack=stack, service__name="web", containers=2).exists()
        ps = sh("docker", "stack", "ps", "swarmpage", "--filter", "desired-state=running",
                "--format", "{{.Name}} {{.Node}} {{.CurrentState}}").splitlines()
        assert len(ps) == 2, ps
        client.force_login(viewer)
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            page = client.get("/stacks/swarmpage/", **headers).content.decode()
            assert ">Task</th>" in page
            for line in ps:
                name, node, state = line.split()[:3]
                row = page[page.index(f'data-replica="{name}"'):]
                row = row[:row.index("</tr>")]
                assert f'class="node">{node}<' in row and state.lower() in row, (line, row)
    finally:
        subprocess.run(["docker", "stack", "rm", "swarmpage"], capture_output=True)
        wait_until(lambda: not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=swarmpage"),
                   60, what="docker stack rm")


class Enough(Exception):
    pass


class FirstLines(io.StringIO):
    """The command's output, until it has printed `n` lines."""

    def __init__(self, n):
        super().__init__()
        self.n, self.lines = n, []

    def write(self, text):
        self.lines += [line for line in text.splitlines() if line]
        if len(self.lines) >= self.n:
            raise Enough


def test_stack_logs_follow_a_swarm_service(db, swarm):
    """`stack logs -f` keeps printing the lines a task writes after it started."""
    from django.core.management import call_command

    from stacks.models import Network, Stack

    stack = Stack.objects.create(slug="swarmlogs", name="swarmlogs",
                                 engine=Engine.objects.create(name="cluster", swarm=True))
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="ticker", image="panel-local/busybox", restart="no", command=[
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"])
    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        wait_until(lambda: "tick 2" in sh("docker", "service", "logs", "swarmlogs_ticker"), 30, what="a first tick")
        out = FirstLines(4)
        with pytest.raises(Enough):
            call_command("stack", "logs", "swarmlogs", "ticker", "--tail", "1", "--follow", stdout=out)
        ticks = [int(line.rsplit(" ", 1)[1]) for line in out.lines]
        assert ticks == list(range(ticks[0], ticks[0] + 4)), out.lines  # one old line, then three new ones
        node = sh("docker", "node", "ls", "--format", "{{.Hostname}}").split()[0]
        assert all(line.split(" ", 1)[1].startswith(f"swarmlogs_ticker.1@{node} | tick ") for line in out.lines)

        # The log page's follower (the worker's follow_logs task, a thread of its
        # process) follows the same Swarm stream while a page watches, then lets go.
        from stacks.monitoring import logs
        from stacks.seams import broker
        from stacks.tasks import follow_logs

        def last_tick():
            lines = logs.cached("swarmlogs", "ticker")[0]
            return bool(lines) and " | tick " in lines[-1] and int(lines[-1].rsplit(" ", 1)[1])

        logs.watch("swarmlogs", "ticker")
        try:
            follow_logs(stack.services.get(name="ticker").pk)
            first = wait_until(last_tick, 20, what="the lines kept by the follower")
            wait_until(lambda: last_tick() >= first + 3, 20, what="new lines, followed")
            assert f"swarmlogs_ticker.1@{node} | tick " in logs.cached("swarmlogs", "ticker")[0][-1]
        finally:
            broker.connection().delete(logs.key("swarmlogs", "ticker") + ":watched")
        wait_until(lambda: not broker.get(logs.key("swarmlogs", "ticker") + ":following"), 15,
                   what="the follower to let go once nobody watches")
    finally:
        subprocess.run(["docker", "stack", "rm", "swarmlogs"], capture_output=True)
        wait_until(lambda: not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=swarmlogs"),
                   60, what="docker stack rm")


def test_top_level_configs_secrets_and_network_options_reach_swarm(db, swarm):
    """What adoption keeps at the top level, as `docker stack deploy` converts it: a
    config (at its target, with its uid/gid/mode) and a secret as Swarm objects, a
    binary file as its own bytes, a network's labels and a volume's labels."""
    import base64
    import json

    from stacks.models import Network, Stack, StackFile, Volume

    logo = bytes(range(256))  # not UTF-8: kept base64 in the row, its bytes in the config
    stack = Stack.objects.create(
        slug="swarmtop", name="swarmtop", engine=Engine.objects.create(name="cluster", swarm=True),
        compose_extra={"configs": {"app_conf": {"file": "./conf/app.conf"}, "logo": {"file": "./conf/logo.bin"}},
                       "secrets": {"db_password": {"file": "./secrets/db_password.txt"}}})
    Network.objects.create(stack=stack, key="back", extra={"labels": {"team": "ops"}})
    Volume.objects.create(stack=stack, key="cache", extra={"labels": {"team": "ops"}})
    StackFile.objects.create(stack=stack, path="conf/app.conf", content="answer = 42\n")
    StackFile.objects.create(stack=stack, path="conf/logo.bin", content=base64.b64encode(logo).decode(), binary=True)
    StackFile.objects.create(stack=stack, path="secrets/db_password.txt", content="hunter2\n")
    Service.objects.create(
        stack=stack, name="app", image="panel-local/busybox", command=["sleep", "600"], restart="no",
        networks=["back"], volumes=["cache:/cache"],
        extra={"configs": ["logo", {"source": "app_conf", "target": "/etc/app/app.conf", "uid": "10", "gid": "20",
                                    "mode": 0o440}],
               "secrets": ["db_password"]})

    def container_of_app():
        return sh("docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=swarmtop_app").split()

    def in_app(*args):
        (cid,) = container_of_app()
        return subprocess.run(["docker", "exec", cid, *args], capture_output=True, check=True, timeout=60).stdout

    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        wait_until(lambda: len(container_of_app()) == 1, 60, what="the app's task container")
        assert in_app("cat", "/etc/app/app.conf") == b"answer = 42\n"
        assert in_app("busybox", "stat", "-c", "%u %g %a", "/etc/app/app.conf").split() == [b"10", b"20", b"440"]
        assert in_app("cat", "/logo") == logo
        assert in_app("cat", "/run/secrets/db_password") == b"hunter2\n"
        configs = sh("docker", "config", "ls", "--filter", "label=com.docker.stack.namespace=swarmtop",
                     "--format", "{{.Name}}").split()
        assert any(c.startswith("swarmtop_app_conf_") for c in configs) and any(
            c.startswith("swarmtop_logo_") for c in configs), configs
        secrets = sh("docker", "secret", "ls", "--filter", "label=com.docker.stack.namespace=swarmtop",
                     "--format", "{{.Name}}").split()
        assert any(s.startswith("swarmtop_db_password_") for s in secrets), secrets
        refs = json.loads(sh("docker", "service", "inspect", "swarmtop_app", "--format",
                             "{{json .Spec.TaskTemplate.ContainerSpec}}"))
        assert {r["File"]["Name"] for r in refs["Configs"]} == {"/logo", "/etc/app/app.conf"}
        assert [r["File"]["Name"] for r in refs["Secrets"]] == ["/run/secrets/db_password"]
        labels = json.loads(sh("docker", "network", "inspect", "swarmtop_back", "--format", "{{json .Labels}}"))
        assert labels == {"team": "ops", "com.docker.stack.namespace": "swarmtop"}
        assert sh("docker", "network", "inspect", "swarmtop_back", "--format", "{{.Driver}}").strip() == "overlay"
        volume = json.loads(sh("docker", "volume", "inspect", "swarmtop_cache", "--format", "{{json .Labels}}"))
        assert volume == {"team": "ops", "com.docker.stack.namespace": "swarmtop"}

        # No change: the service keeps its version.
        before = versions("swarmtop")
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        assert d.steps.filter(message="Plan: nothing to change").exists()
        assert versions("swarmtop") == before

        # A changed config file: rotated, the service updated, the old config gone.
        old = next(c for c in configs if c.startswith("swarmtop_app_conf_"))
        StackFile.objects.filter(stack=stack, path="conf/app.conf").update(content="answer = 43\n")
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        assert d.steps.filter(message__contains=f"rotate config {old} → swarmtop_app_conf_").exists()
        assert versions("swarmtop") != before
        configs = sh("docker", "config", "ls", "--filter", "label=com.docker.stack.namespace=swarmtop",
                     "--format", "{{.Name}}").split()
        assert old not in configs and any(c.startswith("swarmtop_app_conf_") for c in configs)
        wait_until(lambda: len(container_of_app()) == 1 and in_app("cat", "/etc/app/app.conf") == b"answer = 43\n",
                   60, what="the task with the rotated config")
    finally:
        subprocess.run(["docker", "stack", "rm", "swarmtop"], capture_output=True)
        wait_until(lambda: not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=swarmtop"),
                   60, what="docker stack rm")
        subprocess.run(["docker", "volume", "rm", "swarmtop_cache"], capture_output=True)


def recorded_deploy(stack, user, **options):
    d = Deployment.objects.record(stack, "deploy", user=user, options=options)
    execute(d)
    d.refresh_from_db()
    return d


def test_a_rollback_on_swarm_restores_the_first_definition_and_leaves_the_rest(db, swarm, settings, operator):
    """Deploy, change a rule and an environment value, deploy; roll back to the
    first: the services are back on the first spec (Prometheus on the first rule
    file, node-exporter without the value), Alertmanager's service is not
    touched, and the rollback is a version and a deployment of its own."""
    from stacks import versions as stack_versions
    from stacks.models import StackVersion

    settings.PANEL_SWARM_PUBLISH_MODE = "host"
    prom_port = free_port()
    stack = mini_monitoring(slug="swarmback", prom_port=prom_port, am_port=free_port())
    stack.engine = Engine.objects.create(name="cluster", swarm=True)
    stack.save()

    def rules():
        return getattr(get(f"http://127.0.0.1:{prom_port}/api/v1/rules"), "text", "")

    def env_of(service):
        return sh("docker", "service", "inspect", f"swarmback_{service}", "--format",
                  "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")

    try:
        stack_versions.record(stack, StackVersion.CLI, note="first")
        first = recorded_deploy(stack, operator)
        assert first.status == "succeeded", first.error
        wait_until(lambda: "up == 0" in rules(), 60, what="the first rule in Prometheus's Swarm task")

        AlertRule.objects.filter(stack=stack, name="TargetDown").update(expr="up < 1")
        Service.objects.filter(stack=stack, name="node-exporter").update(environment={"LEVEL": "2"})
        stack_versions.record(stack, StackVersion.WEB, user=operator)
        second = recorded_deploy(stack, operator)
        assert second.status == "succeeded", second.error
        wait_until(lambda: "up \\u003c 1" in rules() or "up < 1" in rules(), 60, what="the changed rule")
        assert "LEVEL=2" in env_of("node-exporter")
        before = versions("swarmback")

        rolled = recorded_deploy(stack, operator, rollback_to=first.pk)
        assert rolled.status == "succeeded", rolled.error
        after = versions("swarmback")
        assert after["swarmback_alertmanager"] == before["swarmback_alertmanager"]  # not touched
        assert after["swarmback_node-exporter"] != before["swarmback_node-exporter"]
        assert "LEVEL=2" not in env_of("node-exporter")
        wait_until(lambda: "up == 0" in rules(), 60, what="the first rule back in Prometheus")
        assert AlertRule.objects.get(stack=stack, name="TargetDown").expr == "up == 0"
        version = rolled.version
        assert (version.source, version.note) == ("rollback", f"rollback to #{first.pk}")
        assert version.digest == first.version.digest
        assert rolled.images["prometheus"]["id"] == first.images["prometheus"]["id"]
    finally:
        subprocess.run(["docker", "stack", "rm", "swarmback"], capture_output=True)
        wait_until(lambda: not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=swarmback"),
                   60, what="docker stack rm")
