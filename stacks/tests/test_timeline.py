"""The stack timeline and the alert page's "started after" line: operations with
their outcome and changes, health changes and alerts, in time order."""
from datetime import timedelta

import pytest
from django.utils import timezone

from stacks.models import Alert, Deployment, HealthChange, Service, Stack

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def history(defaults, operator):
    stack = Stack.objects.get(slug="monitoring")
    node = Service.objects.get(stack=stack, name="node-exporter")
    t0 = timezone.now() - timedelta(minutes=10)
    deploy = Deployment.objects.create(stack=stack, requested_by=operator, status="succeeded", finished=t0)
    Deployment.objects.filter(pk=deploy.pk).update(created=t0 - timedelta(seconds=5))
    deploy.log("Plan: recreate node-exporter_1")
    deploy.log("pulling layer", kind="progress")
    HealthChange.objects.create(service=node, at=t0 + timedelta(seconds=20), summary="running → exited")
    alert = Alert.objects.create(fingerprint="f1", starts_at=t0 + timedelta(seconds=40), status="firing",
                                 name="TargetDown", stack=stack, service=node,
                                 annotations={"summary": "node-exporter is down"})
    return stack, deploy, alert


def test_it_interleaves_operations_health_changes_and_alerts_newest_first(client, viewer, history):
    stack, deploy, alert = history
    client.force_login(viewer)
    html = client.get(f"/stacks/{stack.slug}/").content.decode()
    timeline = html[html.index('id="timeline"'):]
    fired, health, op = (timeline.index("TargetDown fired on node-exporter"),
                         timeline.index("node-exporter: running → exited"), timeline.index(f"Deploy #{deploy.pk} by olga"))
    assert fired < health < op
    assert "recreate node-exporter_1" in timeline and "pulling layer" not in timeline


def test_the_timeline_refreshes_as_a_fragment(client, viewer, history):
    stack, deploy, alert = history
    client.force_login(viewer)
    r = client.get(f"/stacks/{stack.slug}/timeline/", **HX)
    assert r.status_code == 200
    html = r.content.decode()
    assert '<section id="timeline"' in html and "<html" not in html


def test_the_alert_page_names_the_last_operation_before_it_started(client, viewer, history):
    stack, deploy, alert = history
    client.force_login(viewer)
    html = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Started 40 s after" in html and f"Deploy #{deploy.pk} by olga" in html
    assert "recreate node-exporter_1" in html


def test_an_alert_before_any_operation_says_so(client, viewer, history):
    stack, deploy, alert = history
    Deployment.objects.filter(pk=deploy.pk).update(created=alert.starts_at + timedelta(minutes=1))
    client.force_login(viewer)
    assert "No operation on monitoring before this alert started." in client.get(f"/alerts/{alert.pk}/").content.decode()
