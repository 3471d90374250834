"""The panel talks only to what it deployed: the alert graph, silences,
acknowledgements and health probes go to the port the engine publishes for a
container of the stack's own Compose project and service (recorded by the
health poll), never to an address a row names; what comes back is a status,
never echoed; engine addresses refuse link-local and cloud metadata ranges."""
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from stacks.alerting import acks
from stacks.defaults.demo import mini_monitoring
from stacks.engine import addresses
from stacks.engine.connect import build
from stacks.engine.errors import EngineError
from stacks.models import Alert, AlertRule, Deployment, Engine, Service, ServiceHealth, Stack
from stacks.monitoring.health import poll_one
from stacks.operations.execute import execute
from stacks.tests.conftest import free_port

SECRET = "ROOT-PASSWORD-OF-THE-HOST"


class Recorder(BaseHTTPRequestHandler):
    """Some other local HTTP server on a port a row names: it records every
    request and answers with what must never reach a page."""

    def _answer(self):
        self.server.seen.append(f"{self.command} {self.path}")
        body = f"{SECRET}\n".encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def other_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _rows_pointing_at(port, slug="scoped"):
    stack = Stack.objects.create(slug=slug, name=slug)
    prom = Service.objects.create(stack=stack, name="prometheus", role="prometheus", image="x",
                                  ports=[f"127.0.0.1:{port}:9090"], ui_name="Prometheus", ui_port=9090,
                                  probe_path="/-/healthy")
    am = Service.objects.create(stack=stack, name="alertmanager", role="alertmanager", image="x",
                                ports=[f"127.0.0.1:{port}:9093"], ui_name="Alertmanager", ui_port=9093,
                                probe_path="/-/healthy")
    AlertRule.objects.create(stack=stack, name="TargetDown", expr="up == 0", for_duration="1m")
    alert = Alert.objects.create(fingerprint="scoped01", starts_at=timezone.now() - timedelta(minutes=5),
                                 status="firing", name="TargetDown", stack=stack,
                                 labels={"alertname": "TargetDown", "job": "node"})
    return stack, prom, am, alert


@pytest.mark.docker
@pytest.mark.django_db
def test_a_port_a_row_names_is_never_asked_when_nothing_was_deployed(client, viewer, operator, other_server,
                                                                      docker_api):
    stack, prom, am, alert = _rows_pointing_at(other_server.server_address[1])
    poll_one(stack)  # the real health poll: the engine has no container of this project
    assert ServiceHealth.objects.get(service=prom).endpoint == ""

    client.force_login(viewer)
    r = client.get(f"/alerts/{alert.pk}/graph.json")
    assert r.status_code == 404 and "runs no Prometheus deployed by the panel" in r.json()["error"]
    assert SECRET not in client.get(f"/alerts/{alert.pk}/").content.decode()
    client.force_login(operator)
    r = client.post(f"/alerts/{alert.pk}/silence/", {"duration": "1h"}, follow=True)
    assert "No Alertmanager deployed by the panel is running" in r.content.decode()
    r = client.post(f"/alerts/{alert.pk}/silences/abc/expire/", follow=True)
    assert "No Alertmanager to talk to" in r.content.decode()
    r = client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "on it"}, follow=True)
    assert r.status_code == 200
    assert acks.end_resolved() == []
    assert other_server.seen == []  # neither the pages nor the poller's probe reached it


@pytest.mark.django_db
@pytest.mark.parametrize("status", [200, 500])
def test_what_an_endpoint_answers_is_shown_as_a_status_never_echoed(client, viewer, operator, other_server, status):
    other_server.status = status
    stack, prom, am, alert = _rows_pointing_at(free_port())
    # As the poller records a deployed Prometheus and Alertmanager (the docker test below deploys real ones);
    # here the recorded address is a server that answers with what must not be shown.
    url = f"http://127.0.0.1:{other_server.server_address[1]}"
    ServiceHealth.objects.create(service=prom, state="running", endpoint=url)
    ServiceHealth.objects.create(service=am, state="running", endpoint=url)
    client.force_login(viewer)
    r = client.get(f"/alerts/{alert.pk}/graph.json")
    assert r.status_code in (422, 502) and SECRET not in r.content.decode()
    assert f"HTTP {status}" in r.json()["error"]
    client.force_login(operator)  # the silence section (and Alertmanager's status) is theirs
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert f"HTTP {status}" in page and SECRET not in page and url not in page
    r = client.post(f"/alerts/{alert.pk}/silence/", {"duration": "1h"}, follow=True)
    assert f"HTTP {status}" in r.content.decode() and SECRET not in r.content.decode()
    assert other_server.seen  # it was asked: the recorded endpoint is the one used


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_once_deployed_the_graph_and_silences_reach_the_deployed_containers(client, operator, project, docker_api):
    prom_port, am_port = free_port(), free_port()
    stack = mini_monitoring(slug=project, prom_port=prom_port, am_port=am_port)
    d = Deployment.objects.create(stack=stack)
    execute(d)  # polls health once done
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    health = {h.service.name: h.endpoint for h in ServiceHealth.objects.filter(service__stack=stack)
              .select_related("service")}
    assert health["prometheus"] == f"http://127.0.0.1:{prom_port}"
    assert health["alertmanager"] == f"http://127.0.0.1:{am_port}"
    alert = Alert.objects.create(fingerprint="deployed01", starts_at=timezone.now() - timedelta(minutes=1),
                                 status="firing", name="TargetDown", stack=stack,
                                 labels={"alertname": "TargetDown", "job": "node"})
    client.force_login(operator)
    r = client.get(f"/alerts/{alert.pk}/graph.json")
    assert r.status_code == 200 and "error" not in r.json() and r.json()["expr"] == "up"
    r = client.post(f"/alerts/{alert.pk}/silence/", {"matcher": ["alertname"], "duration": "1h"}, follow=True)
    assert "Silenced for 1h" in r.content.decode()

    Deployment.objects.create(stack=stack, action="down")
    execute(Deployment.objects.filter(stack=stack, action="down").get())
    assert not ServiceHealth.objects.filter(service__stack=stack).exclude(endpoint="").exists()
    assert client.get(f"/alerts/{alert.pk}/graph.json").status_code == 404


# --- engine addresses ----------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("address", [
    "tcp://169.254.169.254:2375", "tcp://169.254.0.1:2376", "tcp://[fe80::1]:2375", "tcp://100.100.100.200:80",
    "tcp://[fd00:ec2::254]:80", "tcp://metadata.google.internal:80", "ssh://root@169.254.169.254",
    "tcp://[::ffff:169.254.169.254]:2375", "tcp://METADATA.google.internal.:80",
])
def test_engine_rows_refuse_link_local_and_metadata_addresses(address):
    with pytest.raises(ValidationError) as refused:
        Engine(name="meta", docker_host=address).full_clean()
    assert "refused" in " ".join(refused.value.message_dict["docker_host"])
    with pytest.raises(CommandError, match="refused"):
        call_command("engine", "add", "meta", "--docker-host", address, stdout=StringIO())
    assert not Engine.objects.filter(name="meta").exists()


@pytest.mark.django_db
def test_engine_rows_accept_ordinary_addresses():
    for address in ("tcp://10.0.0.5:2376", "ssh://ops@127.0.0.1", "unix:///var/run/docker.sock", ""):
        Engine(name="fine", docker_host=address).full_clean()


@pytest.mark.django_db
def test_a_name_that_resolves_to_a_metadata_address_is_refused_at_save_and_at_connect(monkeypatch):
    # No DNS server here to plant such a name: getaddrinfo is replaced for this one name (a stand-in).
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "engine.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(ValidationError, match="resolves to 169.254.169.254"):
        Engine(name="sly", docker_host="tcp://engine.example.test:2376").full_clean()
    saved = Engine(name="sly", docker_host="tcp://engine.example.test:2376")  # saved before the name moved
    with pytest.raises(EngineError, match="link-local"):
        build(saved)
    assert addresses.address_problem("tcp://127.0.0.1:2376") == ""
