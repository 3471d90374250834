"""An alert turns resolved as soon as its Alertmanager stops holding it (the
beat task's look at the active alerts), not only when the resolved webhook
comes; open pages hear of it. Against a real Alertmanager."""
from datetime import datetime, timedelta
from datetime import timezone as tz

import pytest
import requests

from stacks.alerting import acks
from stacks.models import Alert, Deployment, Receiver, Service, Stack
from stacks.operations.execute import execute
from stacks.seams import live
from stacks.tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


@pytest.fixture
def alertmanager(project, docker_api):
    port = free_port()
    stack = Stack.objects.create(slug=project, name=project)
    Service.objects.create(
        stack=stack, name="alertmanager", role="alertmanager", image="panel-local/alertmanager:latest",
        command=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                 "--cluster.listen-address="],
        ports=[f"127.0.0.1:{port}:9093"],
        volumes=["./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
        ui_name="Alertmanager", ui_port=9093, ui_path="/", restart="no")
    Receiver.objects.create(stack=stack, name="control-panel", kind="panel", is_default=True)
    d = Deployment.objects.create(stack=stack)
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", [s.message for s in d.steps.all()]
    stack.am = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ready(stack.am), 30, what="Alertmanager ready")
    return stack


def _ready(url):
    try:
        return requests.get(url + "/-/ready", timeout=1).ok
    except requests.RequestException:
        return False


def _post(am, ends):
    labels = {"alertname": "DiskFull", "instance": "db:9100"}
    requests.post(am + "/api/v2/alerts", json=[{"labels": labels, "startsAt": "2026-01-01T00:00:00Z",
                                                "endsAt": ends.isoformat()}], timeout=5).raise_for_status()


def test_an_alert_its_alertmanager_dropped_turns_resolved(alertmanager):
    _post(alertmanager.am, datetime.now(tz.utc) + timedelta(hours=1))
    held = wait_until(lambda: requests.get(alertmanager.am + "/api/v2/alerts", timeout=2).json(), 10,
                      what="the alert held")
    alert = Alert.objects.create(fingerprint=held[0]["fingerprint"], starts_at="2026-01-01T00:00:00Z",
                                 status="firing", name="DiskFull", stack=alertmanager)
    assert acks.resolve_gone() == []
    listener = live.hub.listen(["alerts", f"stack:{alertmanager.slug}"])
    try:
        _post(alertmanager.am, datetime.now(tz.utc) - timedelta(seconds=1))  # what Prometheus sends on resolution
        acks.end_resolved()
        alert.refresh_from_db()
        assert alert.status == "resolved" and alert.resolved_at is not None
        assert {"alerts", f"stack:{alertmanager.slug}"} <= listener.get(2) | listener.get(0.3)
    finally:
        listener.close()


def test_an_alert_with_no_stack_waits_for_the_webhook(alertmanager):
    alert = Alert.objects.create(fingerprint="unknown", starts_at="2026-01-01T00:00:00Z", status="firing",
                                 name="Elsewhere")
    assert acks.resolve_gone() == []
    alert.refresh_from_db()
    assert alert.status == "firing"
