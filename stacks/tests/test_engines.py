"""Engines as rows: registering them, stacks on them, and work routed to a worker
that can reach each one (Celery queue engine.NAME)."""
import io

import pytest
from django.core.management import CommandError, call_command

from stacks.models import Deployment, Engine, Stack
from stacks.tests.conftest import Worker, free_port, wait_until


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def certs(tmp_path):
    paths = {}
    for name in ("ca", "cert", "key"):
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_text(f"-----BEGIN {name.upper()}-----\nnot really {name}\n")
    return paths


def compose_file(tmp_path, port):
    f = tmp_path / "docker-compose.yml"
    f.write_text(f"""services:
  web:
    image: panel-local/busybox
    command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]
    ports: ["127.0.0.1:{port}:8080"]
""")
    return f


def test_it_starts_with_the_local_engine(db):
    assert Engine.objects.filter(name="local", docker_host="").exists()
    stack = Stack.objects.create(slug="s1", name="S1")
    assert stack.engine.name == "local"


def test_it_adds_lists_and_removes_engines(db, certs):
    out = run("engine", "add", "far", "--docker-host", "tcp://10.0.0.5:2376",
              "--tls-ca", certs["ca"], "--tls-cert", certs["cert"], "--tls-key", certs["key"])
    assert "engine.far" in out
    run("engine", "add", "cluster", "--swarm", "--docker-host", "ssh://ops@10.0.0.6")
    far = Engine.objects.get(name="far")
    assert far.uses_tls and "not really key" in far.tls_key
    listing = run("engine", "list")
    assert "far" in listing and "tls" in listing and "swarm" in listing and "no worker" in listing
    assert "not really" not in listing  # secrets never printed
    run("engine", "remove", "cluster")
    assert not Engine.objects.filter(name="cluster").exists()


def test_it_refuses_bad_engines(db, certs):
    with pytest.raises(CommandError, match="tcp://"):
        run("engine", "add", "x", "--docker-host", "http://host")
    with pytest.raises(CommandError, match="TLS certificates go with a tcp://"):
        run("engine", "add", "y", "--docker-host", "ssh://h", "--tls-ca", certs["ca"],
            "--tls-cert", certs["cert"], "--tls-key", certs["key"])
    with pytest.raises(CommandError, match="together"):
        run("engine", "add", "z", "--docker-host", "tcp://h:2376", "--tls-ca", certs["ca"])
    assert not Engine.objects.exclude(name="local").exists()


def test_it_refuses_to_remove_an_engine_stacks_use(db):
    far = Engine.objects.create(name="far", docker_host="tcp://10.0.0.5:2375")
    Stack.objects.create(slug="app", name="App", engine=far)
    with pytest.raises(CommandError, match="runs stacks app"):
        run("engine", "remove", "far")


def test_a_move_is_completed_by_the_next_deploy(db):
    far = Engine.objects.create(name="far", docker_host="tcp://10.0.0.5:2375")
    stack = Stack.objects.create(slug="app", name="App")
    run("stack", "move", "app", "--engine", "far")
    stack.refresh_from_db()
    assert stack.engine == far and stack.moved_from is None  # never deployed: nothing to bring down
    Deployment.objects.create(stack=stack, action="deploy", status="succeeded")
    out = run("stack", "move", "app", "--engine", "local")
    stack.refresh_from_db()
    assert stack.engine.name == "local" and stack.moved_from == far
    assert "down on far" in out
    with pytest.raises(CommandError, match="not yet brought down"):
        run("engine", "remove", "far")


@pytest.fixture
def far_engine(transactional_db):
    """A second dockerd over TLS, standing in for a second host: engine `far`."""
    from stacks.tests.second_engine import SecondEngine

    engine = SecondEngine(free_port()).start()
    try:
        engine.load_images("panel-local/busybox")
        c = engine.certs
        run("engine", "add", "far", "--docker-host", engine.url,
            "--tls-ca", c["ca"], "--tls-cert", c["cert"], "--tls-key", c["key"])
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def start_far_worker(celery_worker, settings):
    """Starts, when called, a worker with -Q engine.far, as on the second host."""
    started = []

    def start():
        queue = f"{settings.PANEL_ENGINE_QUEUE_PREFIX}engine.far"
        started.append(Worker({**celery_worker.env, "PANEL_TEST_QUEUE": queue}).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_a_stack_runs_on_a_second_engine_served_by_its_own_worker(
        celery_worker, far_engine, start_far_worker, docker_api, client, viewer, tmp_path):
    """A second dockerd over TLS stands in for a second host; a worker started with
    -Q engine.far serves it; the Docker CLI against each daemon agrees."""
    from stacks.queues import CACHE_KEY
    from stacks.seams.broker import connection as _redis

    engine = far_engine
    try:
        port = free_port()
        run("stack", "import", str(compose_file(tmp_path, port)), "--name", "farapp", "--engine", "far")

        client.force_login(viewer)
        _redis().delete(CACHE_KEY)
        page = client.get("/").content.decode()
        row = page[page.index('data-stack="farapp"'):]
        assert "far" in row[:600] and "no worker" in row[:600]

        start_far_worker()

        def served():
            _redis().delete(CACHE_KEY)
            page = client.get("/").content.decode()
            return "no worker" not in page[page.index('data-stack="farapp"'):][:600]

        wait_until(served, 60, 0.5, what="the far engine's worker")

        out = run("stack", "deploy", "farapp", "--wait")
        assert "deploy of farapp succeeded" in out
        ps = engine.cli("ps", "--filter", "label=com.docker.compose.project=farapp",
                        "--format", "{{.Names}} {{.Ports}}").stdout
        assert "farapp_web_1" in ps and f"127.0.0.1:{port}->8080/tcp" in ps
        assert not docker_api.containers(all=True, filters={"label": "com.docker.compose.project=farapp"})
        assert "farapp_web_1" in run("stack", "status", "farapp")

        # Moving it home: one deploy brings it up here, then down there. Both
        # "hosts" share this machine's ports, so the new one publishes another.
        from stacks.models import Service

        Service.objects.filter(stack__slug="farapp").update(ports=[f"127.0.0.1:{free_port()}:8080"])
        run("stack", "move", "farapp", "--engine", "local")
        out = run("stack", "deploy", "farapp", "--wait")
        assert "Moved from engine far" in out
        assert engine.cli("ps", "-aq", "--filter", "label=com.docker.compose.project=farapp").stdout.strip() == ""
        assert docker_api.containers(filters={"label": "com.docker.compose.project=farapp"})
        assert Stack.objects.get(slug="farapp").moved_from is None
    finally:
        from stacks.tests.conftest import cleanup_project

        cleanup_project(docker_api, "farapp")


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_a_default_worker_serves_an_engine_added_after_it_started(celery_worker, docker_api, project, tmp_path):
    """A worker started without -Q takes up a reachable engine when `engine add`
    tells it, with no restart; one it cannot reach stays unserved."""
    from stacks.queues import refresh_served_queues

    local = Engine.objects.get_or_create(name="local")[0]  # an earlier test's flush may have taken the row
    celery_worker.stop()  # its -Q worker makes way for a default one
    worker = Worker({**celery_worker.env, "PANEL_TEST_QUEUE": ""}).start()
    try:
        wait_until(lambda: local.queue in refresh_served_queues(1), 60, 0.5, what="the default worker")
        run("engine", "add", "gone", "--docker-host", f"tcp://127.0.0.1:{free_port()}")  # nothing listens there
        assert "served by the workers started without -Q" in run("engine", "add", "other", "--docker-host",
                                                                  "unix:///var/run/docker.sock")
        other, gone = Engine.objects.get(name="other"), Engine.objects.get(name="gone")
        served = wait_until(lambda: q if other.queue in (q := refresh_served_queues(1)) else None, 60, 0.5,
                            what="the worker taking up engine other")
        assert gone.queue not in served  # checked together with other, and unreachable
        listing = {line.split()[0]: line for line in run("engine", "list").splitlines()}
        assert listing["other"].endswith(" worker") and listing["gone"].endswith("no worker")

        run("stack", "import", str(compose_file(tmp_path, free_port())), "--name", project, "--engine", "other")
        assert f"deploy of {project} succeeded" in run("stack", "deploy", project, "--wait")
        assert docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})
    finally:
        worker.stop()


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_a_project_on_another_host_is_adopted_by_that_hosts_worker(
        celery_worker, far_engine, start_far_worker, client, operator, tmp_path, monkeypatch):
    """The overview's Adopt on a project docker-compose started on a second engine:
    that engine's worker reads the files and records what runs; the first deploy
    there keeps the running container."""
    import shutil
    import subprocess

    import stacks.tasks
    from stacks.monitoring.health import note_unmanaged

    engine, c = far_engine, far_engine.certs
    certs = tmp_path / "docker-certs"  # as docker-compose reads them
    certs.mkdir()
    for ours, theirs in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")):
        shutil.copy(c[ours], certs / theirs)
    project_dir = tmp_path / "farproj"
    project_dir.mkdir()
    compose_file(project_dir, free_port())
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": engine.url, "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": str(certs)}
    subprocess.run(["docker-compose", "up", "-d"], cwd=project_dir, env=env, check=True, capture_output=True)
    before = engine.cli("ps", "-q", "--filter", "label=com.docker.compose.project=farproj").stdout.split()
    assert len(before) == 1

    far = Engine.objects.get(name="far")
    note_unmanaged(far)  # what the far engine's poller does
    client.force_login(operator)
    page = client.get("/").content.decode()
    row = page[page.index('data-project="farproj"'):][:1200]
    assert 'name="engine" value="far"' in row and ">Adopt</button>" in row

    monkeypatch.setattr(stacks.tasks, "ASK_PATIENCE", 1)  # nobody serves engine.far yet
    r = client.post("/stacks/adopt/", {"project": "farproj", "engine": "far"}, follow=True)
    assert "No worker of engine far answered within 1s" in r.content.decode()
    assert not Stack.objects.filter(slug="farproj").exists()
    monkeypatch.setattr(stacks.tasks, "ASK_PATIENCE", 30)

    start_far_worker()
    r = client.post("/stacks/adopt/", {"project": "farproj", "engine": "far"}, follow=True)
    assert "Adopted farproj: 1 services; left running as they are: web." in r.content.decode()
    assert Stack.objects.get(slug="farproj").engine == far

    assert "deploy of farproj succeeded" in run("stack", "deploy", "farproj", "--wait")
    after = engine.cli("ps", "-q", "--filter", "label=com.docker.compose.project=farproj").stdout.split()
    assert after == before  # the container docker-compose started, kept
