"""What other local users and other machines can reach, after a real deploy and
a real start of the web server."""
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from stacks.defaults.demo import mini_monitoring
from stacks.models import Deployment, Service
from stacks.tests.conftest import ROOT, database_url, free_port, wait_until
from stacks.tests.test_engine import containers, deploy

pytestmark = [pytest.mark.docker]


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_parent(settings):
    """A stacks directory under a directory every user may traverse, so that only
    the panel's own modes stand between a local user and the files."""
    parent = Path(tempfile.mkdtemp(prefix="panel-modes-", dir="/tmp"))
    parent.chmod(0o755)
    settings.STACKS_DIR = parent / "stacks"
    yield settings.STACKS_DIR
    shutil.rmtree(parent, ignore_errors=True)


def as_nobody(*args):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.django_db
def test_a_non_root_service_reads_its_config_that_no_local_user_can(project, docker_api, open_parent, monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", "webhook-secret-0123456789")
    am_port = free_port()
    stack = mini_monitoring(slug=project, prom_port=free_port(), am_port=am_port)
    Service.objects.filter(stack=stack).exclude(name="alertmanager").delete()
    # As the official image does: Alertmanager as nobody (storage on the container's tmpfs).
    Service.objects.filter(stack=stack, name="alertmanager").update(
        user="65534:65534", command=["--config.file=/etc/alertmanager/alertmanager.yml",
                                     "--storage.path=/dev/shm", "--cluster.listen-address="])
    d = deploy(stack)
    assert d.status == "succeeded", d.error

    stack_dir = open_parent / project
    config = stack_dir / "alertmanager" / "alertmanager.yml"
    assert mode(open_parent) == 0o700 and mode(stack_dir) == 0o700
    assert mode(config.parent) == 0o755 and mode(config) == 0o644
    assert "webhook-secret-0123456789" in config.read_text()
    # A local user without privileges reads nothing of it …
    denied = as_nobody("cat", str(config))
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    assert as_nobody("ls", str(open_parent)).returncode != 0
    # … while the container, running as that same uid, reads the file it mounts.
    status = wait_until(lambda: _status(am_port), 30, what="Alertmanager answering")
    assert "control-panel" in status["config"]["original"]
    info = docker_api.inspect_container(containers(docker_api, project)["alertmanager"]["Id"])
    assert info["Config"]["User"] == "65534:65534"
    # Pages and steps still mask the token.
    assert "webhook-secret-0123456789" not in str(d.files) + " ".join(s.message for s in d.steps.all())


def _status(port):
    try:
        r = requests.get(f"http://127.0.0.1:{port}/api/v2/status", timeout=2)
        return r.json() if r.status_code == 200 else None
    except requests.RequestException:
        return None


@pytest.mark.django_db(transaction=True)
def test_rotating_the_webhook_token_rewrites_the_file_and_reloads_alertmanager_in_place(project, docker_api,
                                                                                        settings, monkeypatch):
    monkeypatch.delenv("PANEL_WEBHOOK_TOKEN", raising=False)
    stack = mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())
    Service.objects.filter(stack=stack, name="prometheus").delete()
    assert deploy(stack).status == "succeeded"
    config = settings.STACKS_DIR / project / "alertmanager" / "alertmanager.yml"
    old = yaml.safe_load(config.read_text())["receivers"][0]["webhook_configs"][0]["http_config"]
    before = {k: c["Id"] for k, c in containers(docker_api, project).items()}

    env = {**os.environ, "DATABASE_URL": database_url(), "STACKS_DIR": str(settings.STACKS_DIR),
           "CELERY_TASK_DEFAULT_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}"}  # no worker: --wait runs it here
    env.pop("PANEL_WEBHOOK_TOKEN", None)
    result = subprocess.run([sys.executable, "manage.py", "tokens", "rotate", "webhook", "--wait"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    new = yaml.safe_load(config.read_text())["receivers"][0]["webhook_configs"][0]["http_config"]
    assert new != old and new["authorization"]["credentials"] not in result.stdout
    assert f"deploy of {project} succeeded." in result.stdout
    assert "Reloaded alertmanager configuration" in result.stdout
    assert {k: c["Id"] for k, c in containers(docker_api, project).items()} == before
    assert Deployment.objects.filter(stack=stack).count() == 2


def listening(port):
    """IPv4 addresses with a socket listening on `port`, from the kernel's table."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_the_web_server_listens_on_loopback_and_the_docker_bridge_only(docker_api):
    from controlpanel.listen import bridge_gateway

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PANEL_BIND"}
    args = subprocess.run([sys.executable, "-m", "controlpanel.listen", "--port", str(port)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True).stdout.split()
    # What bin/run starts, on a free port.
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "controlpanel.wsgi", *args, "-w", "1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        gateway = bridge_gateway()
        assert gateway
        assert wait_until(lambda: listening(port) == {"127.0.0.1", gateway}, 30, 0.2, what="gunicorn listening")
        assert "0.0.0.0" not in listening(port)
        # A stack's container reaches it through host.docker.internal.
        cid = docker_api.create_container(
            "panel-local/busybox:latest", ["wget", "-q", "-O", "-", f"http://host.docker.internal:{port}/accounts/login/"],
            host_config=docker_api.create_host_config(extra_hosts={"host.docker.internal": "host-gateway"}))["Id"]
        try:
            docker_api.start(cid)
            assert docker_api.wait(cid, timeout=30)["StatusCode"] == 0, docker_api.logs(cid)
            assert b"Log in" in docker_api.logs(cid, stderr=False)
        finally:
            docker_api.remove_container(cid, force=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(15)


def test_panel_bind_chooses_otherwise(monkeypatch):
    from controlpanel.listen import addresses

    monkeypatch.setenv("PANEL_BIND", "0.0.0.0:9000")
    assert addresses(8000) == ["0.0.0.0:9000"]
    monkeypatch.delenv("PANEL_BIND")
    assert addresses(8123)[0] == "127.0.0.1:8123"
