"""Personas, the real Docker engine, and a real Celery worker for the tests."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from stacks.tests import registry_server

# Containers started by the tests (Alertmanager) reach the live server through
# host.docker.internal, so it listens on every interface of this machine.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "0.0.0.0")
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


# Chromium instances the browser tests run (stacks.tests.test_browser.browser).
BROWSERS = []


def close_browser_pages():
    """A test's pages close when it ends: an open page holds its push stream
    (/live/), and Chromium opens at most six connections to one host, so pages
    left open by earlier tests would starve the next test's requests. The
    browser tests' base_url fixtures call this in their teardown, which runs
    before the live server's database is flushed: a page still polling during
    the flush deadlocks PostgreSQL's TRUNCATE."""
    for browser in BROWSERS:
        for context in list(browser.contexts):
            context.close()


@pytest.fixture(autouse=True)
def _stacks_dir(settings, tmp_path):
    settings.STACKS_DIR = tmp_path / "stacks"
    os.environ["STACKS_DIR"] = str(settings.STACKS_DIR)


def member(username, password, group):
    from stacks.accounts.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user(username, password=password)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(db):
    return member("olga", "operator-pass", "operators")


@pytest.fixture
def viewer(db):
    return member("victor", "viewer-pass", "viewers")


@pytest.fixture
def as_viewer(client, viewer):
    """The test client, logged in as a viewer."""
    client.force_login(viewer)
    return client


@pytest.fixture
def as_operator(client, operator):
    """The test client, logged in as an operator."""
    client.force_login(operator)
    return client


@pytest.fixture
def outsider(db):
    return User.objects.create_user("oscar", password="outsider-pass")


@pytest.fixture
def defaults(db):
    from stacks.defaults import load_defaults

    load_defaults()


# --- Docker ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def docker_api():
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Docker engine not running (bin/setup starts it): {exc}")
    from stacks.engine.local_images import IMAGES, build_local_images

    if any(not client.images.list(name=tag) for tag in IMAGES):
        build_local_images()
    return client.api


@pytest.fixture
def project(docker_api):
    """A unique Compose project name, cleaned off the engine afterwards."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    cleanup_project(docker_api, name)


def cleanup_project(api, name):
    label = f"com.docker.compose.project={name}"
    for c in api.containers(all=True, filters={"label": label}):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"label": label}):
        try:
            api.remove_network(n["Id"])
        except Exception:  # noqa: BLE001
            pass
    for v in api.volumes(filters={"label": label}).get("Volumes") or []:
        api.remove_volume(v["Name"], force=True)


_PORTS_GIVEN = set()


def free_port():
    """A port free now, and never one this process gave before: two calls in a
    row (Prometheus's and Alertmanager's) could otherwise get the same port, as
    the kernel may hand a just-closed port out again, and the stack would be
    refused for a host port clash."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def wait_until(predicate, timeout=60, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what} (last: {last!r})")


# --- Celery -----------------------------------------------------------------------

def database_url():
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, env):
        self.env = env
        self.proc = None

    def start(self):
        queue = self.env["PANEL_TEST_QUEUE"]  # empty: no -Q, as a default worker is started
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "controlpanel", "worker", "-l", "warning", "-P", "solo",
             *(["-Q", queue] if queue else []), "--without-gossip", "--without-mingle", "--without-heartbeat",
             # a name of its own: with two of one name, the workers' replies (active_queues) merge into one
             "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
            cwd=ROOT, env=self.env, start_new_session=True)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real worker process on its own queue, against Redis and the test database."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    from controlpanel.celery import app

    app.conf.task_default_queue = queue
    # Engine queues get the test queue as a prefix: a message left by one test never reaches the next.
    settings.PANEL_ENGINE_QUEUE_PREFIX = f"{queue}."
    env = {**os.environ, "DATABASE_URL": database_url(), "PANEL_TEST_QUEUE": f"{queue},{queue}.engine.local",
           "CELERY_TASK_DEFAULT_QUEUE": queue, "STACKS_DIR": str(settings.STACKS_DIR),
           "PANEL_ENGINE_QUEUE_PREFIX": f"{queue}."}
    worker = Worker(env).start()
    yield worker
    worker.stop()
    app.conf.task_default_queue = "celery"


@pytest.fixture
def registry(docker_api, tmp_path):
    """A real image registry (Debian's docker-registry) on 127.0.0.1 holding one
    image: pulls go over the network, layer by layer."""
    running = registry_server.start(tmp_path / "registry", free_port())
    # An image of its own (busybox and random bytes), pushed and then deleted
    # here: a pull has to download its layer from the registry.
    image = registry_server.image(docker_api, f"{running.host}/panel/sleeper:v1", size=2 * 1024 * 1024)
    registry_server.push(docker_api, image)
    yield image
    try:
        docker_api.remove_image(image, force=True)
    except Exception:  # noqa: BLE001
        pass
    running.stop()


@pytest.fixture
def private_registry(docker_api, tmp_path):
    """docker-registry with an htpasswd login and TLS from a CA the test makes
    (dockerd trusts it through /etc/docker/certs.d/127.0.0.1:PORT/ca.crt);
    RunningRegistry: host, url, username, password, ca_pem, auth."""
    running = registry_server.start(tmp_path / "private-registry", free_port(), users={"team": "s3cret-pass"},
                                    tls=True)
    yield running
    for img in docker_api.images(name=f"{running.host}/*"):
        try:
            docker_api.remove_image(img["Id"], force=True)
        except Exception:  # noqa: BLE001
            pass
    running.stop()
