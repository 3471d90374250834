"""The panel's own events: rows, delivered through Apprise to a JSON receiver on
127.0.0.1 (real Apprise, real HTTP), retried with backoff, visible in
`notify list`; heartbeats noted and never shown as alerts; acknowledgements and
unhealthy services as events."""
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from stacks.defaults.demo import mini_monitoring
from stacks.models import Alert, Deployment, Event, EventDelivery, Route, ServiceHealth, StackWatch
from stacks.notifications import deliver, events, watch
from stacks.tests.receiver import Receiver

pytestmark = pytest.mark.django_db
TOKEN = "events-token-1234567890"


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def stack(db):
    return mini_monitoring(slug="ev", prom_port=1, am_port=2)  # ports nothing listens on


def notify(*args):
    out = StringIO()
    call_command("notify", *args, stdout=out)
    return out.getvalue()


def test_it_delivers_an_event_and_its_end_to_a_json_url(stack, receiver):
    assert "Added chat (json://127.0.0.1:" in notify("add", "chat", receiver.url)
    event, opened = events.open_event(stack, Event.ALERT_PATH, "Alert delivery broken on ev", detail="no heartbeat")
    assert opened and events.open_event(stack, Event.ALERT_PATH, "again")[1] is False  # one open condition
    deliver.deliver_due()
    assert receiver.titles() == ["Alert delivery broken on ev"]
    assert receiver.bodies[0]["type"] == "failure" and "no heartbeat" in receiver.bodies[0]["message"]
    events.close_event(stack, Event.ALERT_PATH, detail="alert delivery works again")
    deliver.deliver_due()
    assert receiver.titles()[-1] == "Ended: Alert delivery broken on ev"
    assert "works again" in receiver.bodies[-1]["message"]
    listed = notify("list")
    assert "chat" in listed and "last delivery ok" in listed
    assert receiver.url.split("/hook")[0] + "/hook" not in listed  # the URL is never printed whole


def test_a_failed_delivery_is_retried_with_backoff_and_shown(stack, receiver):
    notify("add", "chat", receiver.url, "--stack", "ev")
    receiver.status = 500
    events.record(stack, Event.ACKNOWLEDGED, "TargetDown acknowledged by olga", by="olga", detail="on it")
    deliver.deliver_due()
    d = EventDelivery.objects.get(destination__name="chat")
    assert (d.status, d.attempts) == ("pending", 1) and d.next_try > timezone.now() + timedelta(seconds=5)
    assert "last delivery FAILED" in notify("list")
    # The stack has no Alertmanager running that the panel deployed: its delivery waits too, with the reason.
    am = EventDelivery.objects.get(destination__isnull=True)
    assert am.status == "pending" and "No Alertmanager that the panel deployed" in am.error
    receiver.status = 200
    assert deliver.deliver_due() == 0  # not due yet: backoff
    EventDelivery.objects.update(next_try=timezone.now())
    deliver.deliver_due()
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("sent", 2)
    assert receiver.titles() == ["TargetDown acknowledged by olga"] and "by olga" in receiver.bodies[0]["message"]
    assert "last delivery ok" in notify("list")


def test_a_delivery_gives_up_after_its_attempts(stack, receiver, settings):
    settings.PANEL_DELIVERY_ATTEMPTS = 2
    notify("add", "chat", receiver.url)
    receiver.status = 500
    events.open_event(stack, Event.DEPLOY_FAILED, "Deploy #1 of ev failed")
    for _ in range(2):
        EventDelivery.objects.update(next_try=timezone.now())
        deliver.deliver_due()
    assert EventDelivery.objects.get(destination__name="chat").status == "failed"
    assert " 1 failed" in notify("list")


def test_a_destination_gets_only_the_kinds_and_stack_it_asked_for(stack, receiver):
    other = mini_monitoring(slug="other", prom_port=3, am_port=4)
    notify("add", "fails", receiver.url, "--events", "deploy-failed", "--stack", "ev")
    notify("add", "all", receiver.url)
    events.open_event(stack, Event.DEPLOY_FAILED, "a")
    events.open_event(other, Event.DEPLOY_FAILED, "b")
    events.record(stack, Event.DEPLOY_SUCCEEDED, "c")  # only where asked
    events.open_event(stack, Event.ALERTS_HELD, "d")  # a timeline note
    sent = sorted(EventDelivery.objects.filter(destination__isnull=False)
                  .values_list("destination__name", "event__title"))
    assert sent == [("all", "a"), ("all", "b"), ("fails", "a")]


def test_notify_refuses_what_it_cannot_use(stack, receiver):
    with pytest.raises(CommandError, match="Apprise cannot read this URL"):
        notify("add", "x", "nope://what")
    with pytest.raises(CommandError, match="No stack named 'nope'"):
        notify("add", "x", receiver.url, "--stack", "nope")
    with pytest.raises(CommandError, match="No destination 'x'"):
        notify("test", "x")


def test_notify_test_sends_now_and_says_why_not(stack, receiver):
    notify("add", "chat", receiver.url)
    assert "chat: delivered." in notify("test", "chat")
    assert receiver.titles() == ["Test from the control panel"]
    notify("add", "dead", "json://127.0.0.1:9/nothing")
    with pytest.raises(CommandError, match="dead: not delivered: .*Connection error"):
        notify("test", "dead")


def test_the_heartbeat_is_noted_and_never_stored_as_an_alert(stack, client, monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)

    def alert(name, fingerprint):
        return {"status": "firing", "labels": {"alertname": name, "stack": "ev", "severity": "none"},
                "annotations": {}, "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": fingerprint}

    def post(*alerts):
        body = {"version": "4", "groupKey": "{}", "truncatedAlerts": 0, "status": "firing",
                "receiver": "control-panel", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "", "alerts": list(alerts)}
        return client.post("/webhooks/alertmanager/", json.dumps(body), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert post(alert("PanelHeartbeat", "aa")).status_code == 200
    assert Alert.objects.count() == 0
    assert StackWatch.objects.get(stack=stack).last_heartbeat is not None
    assert post(alert("PanelHeartbeat", "aa"), alert("TargetDown", "bb")).status_code == 200
    assert list(Alert.objects.values_list("name", flat=True)) == ["TargetDown"]


def test_an_acknowledgement_is_an_event_with_who_and_why(stack, operator, client, receiver):
    notify("add", "chat", receiver.url)
    alert = Alert.objects.create(fingerprint="ab", starts_at=timezone.now(), status="resolved", name="TargetDown",
                                 stack=stack, labels={"alertname": "TargetDown"})
    client.force_login(operator)
    client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "replacing the exporter"})
    event = Event.objects.get(kind=Event.ACKNOWLEDGED)
    assert (event.title, event.by, event.detail) == ("TargetDown acknowledged by olga", "olga",
                                                     "replacing the exporter")
    deliver.deliver_due()
    assert receiver.titles() == ["TargetDown acknowledged by olga"]
    assert "replacing the exporter" in client.get(f"/stacks/{stack.slug}/timeline/").content.decode()


def test_a_service_unhealthy_past_its_grace_is_an_event_until_it_recovers(stack, settings, client, viewer):
    settings.PANEL_UNHEALTHY_GRACE_SECONDS = 60
    Deployment.objects.create(stack=stack, status=Deployment.SUCCEEDED, finished=timezone.now())
    svc = stack.services.get(name="node-exporter")
    health = ServiceHealth.objects.create(service=svc, state="exited", changed=timezone.now() - timedelta(seconds=30))
    watch.unhealthy(stack)
    assert not Event.objects.filter(kind=Event.UNHEALTHY).exists()  # within its grace
    ServiceHealth.objects.filter(pk=health.pk).update(changed=timezone.now() - timedelta(seconds=90))
    watch.unhealthy(stack)
    event = Event.objects.get(kind=Event.UNHEALTHY)
    assert event.service == "node-exporter" and event.is_open
    client.force_login(viewer)
    page = client.get(f"/stacks/{stack.slug}/").content.decode()
    assert "node-exporter of ev unhealthy" in page
    ServiceHealth.objects.filter(pk=health.pk).update(state="running", changed=timezone.now())
    watch.unhealthy(stack)
    event.refresh_from_db()
    assert event.ended is not None
    timeline = client.get(f"/stacks/{stack.slug}/timeline/").content.decode()
    assert "Ended: node-exporter of ev unhealthy" in timeline and "healthy again" in timeline


def test_who_gets_an_alert_is_beside_the_routes_in_the_admin_and_says_when_nothing_is_deployed(stack, client):
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-pw-pw-pw"))
    page = client.get(f"/admin/stacks/stack/{stack.pk}/change/").content.decode()
    assert f'href="/stacks/{stack.slug}/routes/"' in page
    Route.objects.create(stack=stack, receiver=stack.receivers.get(), matchers=['severity="critical"'])
    assert f'href="/stacks/{stack.slug}/routes/"' in client.get("/admin/stacks/route/").content.decode()
    page = client.get(f"/stacks/{stack.slug}/routes/", {"labels": "alertname=TargetDown"}).content.decode()
    assert "ev has no deployed alertmanager.yml: deploy it first." in page
    page = client.get(f"/stacks/{stack.slug}/routes/", {"labels": "not-a-label"}).content.decode()
    assert "&#x27;not-a-label&#x27; is not LABEL=VALUE." in page
