"""The panel tells the team, end to end with the real thing: Prometheus and
Alertmanager (Debian's binaries) deployed by the panel, the heartbeat arriving
at the panel's webhook, the path broken by `docker network disconnect`, events
delivered by Apprise to a JSON receiver on 127.0.0.1, silences held during a
redeploy in the real Alertmanager, and routes tested by the real amtool.

The checks run here as beat runs them (path.check, deliver.deliver_due,
holds.release_due, drift.check_engine_drift), called in a loop every second
rather than every PANEL_WATCH_SECONDS; bench/alert_path.py measures the default intervals."""
import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from stacks.models import Alert, Deployment, Event, Service, StackWatch
from stacks.monitoring.health import poll_one
from stacks.notifications import deliver, drift, holds, path
from stacks.operations.execute import execute
from stacks.seams.alertmanager import Alertmanager
from stacks.tests.conftest import wait_until
from stacks.tests.receiver import Receiver
from stacks.tests.test_admin import rule_form
from stacks.tests.test_alerts_e2e import _deploy

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.tools, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def deployed(project, live_server, settings, monkeypatch, docker_api):
    return _deploy(project, live_server, settings, monkeypatch)


def _page(client, stack):
    return client.get(f"/stacks/{stack.slug}/").content.decode()


def _redeploy(stack):
    d = Deployment.objects.create(stack=stack)
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    return d


def test_a_disconnected_alertmanager_is_a_delivery_broken_event_at_the_url_and_on_the_page_and_so_is_recovery(
        deployed, docker_api, receiver, client, viewer):
    stack = deployed
    call_command("notify", "add", "chat", receiver.url, stdout=StringIO())
    wait_until(lambda: StackWatch.objects.filter(stack=stack, last_heartbeat__isnull=False).exists(), 60, 1,
               what="the heartbeat at the panel")
    assert not Alert.objects.filter(name="PanelHeartbeat").exists()  # noted, never shown as an alert
    watch = path.check(stack)
    assert watch.path_ok, watch.path_reason
    client.force_login(viewer)
    assert "alerts reach the panel" in _page(client, stack)

    am = f"{stack.slug}_alertmanager_1"
    (network,) = docker_api.inspect_container(am)["NetworkSettings"]["Networks"]
    docker_api.disconnect_container_from_network(am, network)
    title = f"Alert delivery broken on {stack.slug}"
    try:
        def told():
            path.check(stack)
            deliver.deliver_due()
            return title in receiver.titles()

        wait_until(told, 30, 1, what="the broken path told at the URL")
        page = _page(client, stack)
        assert "broken</span>" in page and "Alertmanager at http://127.0.0.1:" in page
        assert title in client.get(f"/stacks/{stack.slug}/timeline/").content.decode()
    finally:
        docker_api.connect_container_to_network(am, network, aliases=["alertmanager"])

    def recovered():
        path.check(stack)
        deliver.deliver_due()
        return f"Ended: {title}" in receiver.titles()

    wait_until(recovered, 90, 1, what="the recovery told at the URL")
    assert "alerts reach the panel" in _page(client, stack)
    event = Event.objects.get(kind=Event.ALERT_PATH)
    assert event.ended and "works again" in event.data["end"]
    # The stack's own Alertmanager got the event too, as an alert with stack, service and event labels.
    assert event.deliveries.filter(destination__isnull=True, status="sent").exists()


def test_a_redeploy_holds_the_alerts_of_what_it_recreates_until_healthy(deployed, settings, client, viewer):
    stack = deployed
    settings.PANEL_HOLD_SETTLE_SECONDS = 1
    Service.objects.filter(stack=stack, name="node-exporter").update(labels={"team": "infra"})
    d = _redeploy(stack)
    assert any(s.message.startswith("Held alerts of node-exporter") for s in d.steps.all())
    am = Alertmanager(stack.am)
    (held,) = [s for s in am.silences() if s["createdBy"] == holds.AUTHOR]
    assert {m["name"]: m["value"] for m in held["matchers"]} == {"stack": stack.slug, "service": "node-exporter"}

    def released():
        poll_one(stack)  # the health poller's refresh, as beat runs it
        return holds.release_due(stack)

    wait_until(released, 30, 1, what="the hold released once node-exporter is healthy")
    assert [s for s in am.silences() if s["createdBy"] == holds.AUTHOR] == []
    client.force_login(viewer)
    timeline = client.get(f"/stacks/{stack.slug}/timeline/").content.decode()
    assert f"Alerts of node-exporter held during deploy #{d.pk}" in timeline
    assert "node-exporter healthy again" in timeline


def test_a_hold_is_set_again_in_an_alertmanager_that_forgot_it(deployed, settings, docker_api):
    stack = deployed
    settings.PANEL_HOLD_SETTLE_SECONDS = 3600  # the hold stays while the test looks
    Service.objects.filter(stack=stack, name="node-exporter").update(labels={"team": "infra"})
    d = _redeploy(stack)
    am = Alertmanager(stack.am)
    (held,) = [s for s in am.silences() if s["createdBy"] == holds.AUTHOR]
    # Killed before it wrote its snapshot, Alertmanager starts again without the
    # silence (as one recreated without a data volume would).
    am_container = f"{stack.slug}_alertmanager_1"
    docker_api.kill(am_container)
    docker_api.start(am_container)

    def up_without_it():
        try:
            return [s["id"] for s in am.silences(active_only=False)] == []
        except Exception:  # noqa: BLE001 - still starting
            return False
    wait_until(up_without_it, 30, 0.5, what="Alertmanager back, without the hold")

    def held_again():
        poll_one(stack)
        holds.release_due(stack)
        return [s for s in am.silences() if s["createdBy"] == holds.AUTHOR]
    (again,) = wait_until(held_again, 30, 1, what="the hold set again")
    assert again["id"] != held["id"]
    assert {m["name"]: m["value"] for m in again["matchers"]} == {"stack": stack.slug, "service": "node-exporter"}
    event = Event.objects.get(kind=Event.ALERTS_HELD, stack=stack)
    assert event.is_open and event.data["silences"] == {"node-exporter": again["id"]}
    assert f"deploy #{d.pk}" in event.title
    # An ended hold is not set again by the next look; its release expires the new silence.
    holds.release(event, "test")
    assert [s for s in am.silences() if s["createdBy"] == holds.AUTHOR] == []


def test_no_hold_when_the_stack_turns_it_off(deployed):
    stack = deployed
    type(stack).objects.filter(pk=stack.pk).update(hold_alerts=False)
    Service.objects.filter(stack=stack, name="node-exporter").update(labels={"team": "infra"})
    stack.refresh_from_db()
    _redeploy(stack)
    assert [s for s in Alertmanager(deployed.am).silences() if s["createdBy"] == holds.AUTHOR] == []


def test_alerts_route_names_the_receiver_by_the_real_amtool(deployed, client, viewer):
    out = StringIO()
    call_command("alerts", "route", deployed.slug, "alertname=TargetDown", "severity=critical", stdout=out)
    assert out.getvalue().strip().endswith("Receivers: control-panel")
    client.force_login(viewer)
    page = client.get(f"/stacks/{deployed.slug}/routes/", {"labels": "alertname=TargetDown"}).content.decode()
    assert '<strong class="receivers">control-panel</strong>' in page
    alert = Alert.objects.create(fingerprint="ab12", starts_at=timezone.now(), status="firing", name="TargetDown",
                                 stack=deployed, labels={"alertname": "TargetDown", "severity": "critical"})
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert '<strong class="receivers">control-panel</strong>' in page and "default-route" in page


def test_an_admin_edit_shows_changes_not_deployed_until_the_deploy_and_drift_is_shown(deployed, client, docker_api):
    stack = deployed
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw-pw-pw-pw"))
    assert "changes not deployed" not in client.get("/").content.decode()
    rule = stack.alert_rules.get(name="TargetDown")
    r = client.post(f"/admin/stacks/alertrule/{rule.pk}/change/", rule_form(rule, for_duration="3s",
                                                                            tests=json_tests(rule)))
    assert r.status_code == 302, r.content.decode()[:2000]
    assert "changes not deployed" in client.get("/").content.decode()
    assert "changes not deployed" in _page(client, stack)
    assert Event.objects.get(kind=Event.NOT_DEPLOYED).is_open
    _redeploy(stack)
    assert "changes not deployed" not in client.get("/").content.decode()
    assert "changes not deployed" not in _page(client, stack)
    assert not Event.objects.get(kind=Event.NOT_DEPLOYED).is_open

    assert drift.check_engine_drift(stack) == ""
    docker_api.stop(stack.node, timeout=1)  # changed outside the panel
    assert "node-exporter" in drift.check_engine_drift(stack)
    overview = client.get("/").content.decode()
    assert "drifted</span>" in overview
    assert Event.objects.get(kind=Event.DRIFT).is_open


def json_tests(rule):
    return json.dumps(rule.tests)
