"""The panel's own image and Compose file, for real: the Dockerfile builds (on a
stand-in base made from Debian, since no registry can be reached here, selected
by docker-compose.standin.yml — the shipped files are not edited for the test),
and docker-compose.yml runs web, worker, beat, Redis and PostgreSQL. A worker for
another engine is that same image started with -Q engine.NAME."""
import os
import secrets
import subprocess
import uuid

import pytest
import requests

from stacks.tests.conftest import ROOT, free_port, wait_until

pytestmark = pytest.mark.docker
IMAGE = "stacks-panel:latest"


def run(args, env=None, timeout=300, check=True):
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def panel_compose(docker_api, tmp_path):
    """The panel's docker-compose.yml with the stand-in override, under a unique
    project name, a free port and a stacks directory of the test's own."""
    run([str(ROOT / "bin" / "build-standin-images")], timeout=1200)
    stacks_dir = tmp_path / "panel-stacks"
    stacks_dir.mkdir()
    project = f"panelimg{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
        "SECRET_KEY": secrets.token_urlsafe(40),
        "PANEL_PORT": str(free_port()),
        "STACKS_DIR": str(stacks_dir),
    }
    base = ["docker-compose", "-p", project, "-f", "docker-compose.yml", "-f", "docker-compose.standin.yml"]

    def compose(*args, timeout=300, check=True):
        return run([*base, *args], env=env, timeout=timeout, check=check)

    extra = []
    try:
        yield compose, env, project, extra
    finally:
        for name in extra:
            run(["docker", "rm", "-f", name], check=False)
        compose("down", "-v", "--remove-orphans", check=False)


def test_panel_image_runs_its_own_compose_file(panel_compose):
    compose, env, project, extra = panel_compose
    compose("build", "web", timeout=1500)
    # Migrate first (PostgreSQL is started and awaited healthy as a dependency):
    # a worker reads the engine rows once, at start.
    migrated = compose("run", "--rm", "-T", "web", "python", "manage.py", "migrate", "--noinput", timeout=600)
    assert "Applying stacks.0001_initial... OK" in migrated.stdout
    compose("up", "-d", "--no-build", timeout=600)

    url = f"http://127.0.0.1:{env['PANEL_PORT']}/accounts/login/"

    def login_page():
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException:
            return None
        return response if response.status_code == 200 else None

    page = wait_until(login_page, timeout=90, what="the login page")
    assert 'name="username"' in page.text and 'name="password"' in page.text

    def pong():
        out = compose("exec", "-T", "worker", "celery", "-A", "controlpanel", "inspect", "ping", "-t", "3", check=False)
        return "pong" in out.stdout and out.stdout
    wait_until(pong, timeout=120, interval=2, what="a Celery ping from the worker")
    listed = compose("exec", "-T", "worker", "python", "manage.py", "stack", "list")
    assert listed.returncode == 0

    # A worker for another engine: the same image, started with -Q engine.NAME.
    far = f"{project}-far"
    extra.append(far)
    run(["docker", "run", "-d", "--name", far, "--network", f"{project}_default",
         "-e", f"DATABASE_URL=postgres://panel:{env['POSTGRES_PASSWORD']}@postgres:5432/panel",
         "-e", "REDIS_URL=redis://redis:6379/0", "-e", f"SECRET_KEY={env['SECRET_KEY']}",
         IMAGE, "celery", "-A", "controlpanel", "worker", "-Q", "engine.far", "-n", "far@%h", "-l", "info"])

    def far_queue():
        out = compose("exec", "-T", "worker", "celery", "-A", "controlpanel", "inspect", "active_queues",
                      "-d", f"far@{far_hostname()}", "-t", "3", check=False)
        return "engine.far" in out.stdout and out.stdout

    def far_hostname():
        return run(["docker", "inspect", "-f", "{{.Config.Hostname}}", far]).stdout.strip()

    far_queues = wait_until(far_queue, timeout=90, interval=2, what="the far worker serving engine.far")
    assert "engine.local" not in far_queues  # it serves what -Q says, nothing more
    compose_worker_queues = compose("exec", "-T", "worker", "celery", "-A", "controlpanel", "inspect",
                                    "active_queues", "-t", "3").stdout
    assert "engine.local" in compose_worker_queues
