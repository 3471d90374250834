"""Alerts carry the stack and service their series were rendered with: linked by
those labels first, so two stacks with a service of the same name stay apart,
and the overview, the stack page and `alerts list --json` agree."""
import json
from io import StringIO

import pytest
from django.core.management import call_command

from stacks.models import Alert, Service, Stack

pytestmark = pytest.mark.django_db
TOKEN = "attribution-token-0123456789"


def post(client, **labels):
    body = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "control-panel",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://localhost:9093",
            "alerts": [{"status": "firing", "labels": {"alertname": "ServiceDown", "severity": "critical", **labels},
                        "annotations": {"summary": "down"}, "startsAt": "2026-11-24T10:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "a1b2c3"}]}
    return client.post("/webhooks/alertmanager/", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)


@pytest.fixture
def twins(db):
    for slug in ("edge", "core"):
        stack = Stack.objects.create(slug=slug, name=slug)
        Service.objects.create(stack=stack, name="node-exporter", image="x")
    return Stack.objects.get(slug="edge"), Stack.objects.get(slug="core")


def test_the_stack_and_service_labels_pick_between_services_of_the_same_name(client, twins, viewer):
    edge, core = twins
    r = post(client, job="node", instance="10.0.0.7:9100", stack="core", service="node-exporter")
    assert r.status_code == 200
    a = Alert.objects.get()
    assert a.stack == core and a.service == Service.objects.get(stack=core, name="node-exporter")

    client.force_login(viewer)
    firing = {s.slug: s.firing_count for s in client.get("/").context["stacks"]}
    assert firing == {"core": 1, "edge": None}
    assert "1 firing alert" in client.get("/stacks/core/").content.decode()
    assert "firing alert" not in client.get("/stacks/edge/").content.decode()
    out = StringIO()
    call_command("alerts", "list", "--json", stdout=out)
    (listed,) = json.loads(out.getvalue())
    assert (listed["stack"], listed["service"]) == ("core", "node-exporter")


def test_without_those_labels_an_ambiguous_name_links_nothing(client, twins):
    post(client, job="node", instance="node-exporter:9100")
    a = Alert.objects.get()
    assert a.stack is None and a.service is None
