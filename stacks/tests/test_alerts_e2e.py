"""Alerts end to end with the real thing: Prometheus and Alertmanager (Debian's
binaries, deployed by the panel's engine with the files it rendered) fire and
resolve alerts into the panel's webhook; silences round-trip through
Alertmanager's API."""
import json
import logging
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
import requests
from django.core.management import call_command
from django.db import connection, connections

from stacks.alerting import acks
from stacks.defaults.demo import mini_monitoring
from stacks.models import Alert, Deployment, Service
from stacks.operations.execute import execute
from stacks.seams import broker
from stacks.seams.alertmanager import Alertmanager
from stacks.tasks import compute_plan, plan_key
from stacks.tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TOKEN = "e2e-token-abcdef0123456789"


def _deploy(project, live_server, settings, monkeypatch, replicated_exporter=False):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)
    settings.ALLOWED_HOSTS = ["*"]
    port = live_server.url.rsplit(":", 1)[1]
    settings.PANEL_URL_FOR_STACKS = f"http://host.docker.internal:{port}"
    prom_port, am_port = free_port(), free_port()
    stack = mini_monitoring(slug=project, prom_port=prom_port, am_port=am_port,
                           replicated_exporter=replicated_exporter)
    d = Deployment.objects.create(stack=stack)
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    stack.deployment = d
    stack.prom = f"http://127.0.0.1:{prom_port}"
    stack.am = f"http://127.0.0.1:{am_port}"
    stack.prom_public = f"http://localhost:{prom_port}/"
    wait_until(lambda: _node_health(stack.prom) == "up", 60, what="node-exporter scraped")
    stack.node = f"{project}_node-exporter_1"
    return stack


@pytest.fixture
def deployed(project, live_server, settings, monkeypatch, docker_api):
    return _deploy(project, live_server, settings, monkeypatch)


@pytest.fixture
def deployed_pair(project, live_server, settings, monkeypatch, docker_api):
    """The mini stack with a replicated exporter beside its node-exporter."""
    return _deploy(project, live_server, settings, monkeypatch, replicated_exporter=True)


def _node_health(prom):
    try:
        targets = requests.get(f"{prom}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    return next((t["health"] for t in targets if t["labels"]["job"] == "node"), None)


def _alert(status):
    return Alert.objects.filter(name="TargetDown", status=status, labels__job="node").first()


def _targets(prom, job):
    targets = requests.get(f"{prom}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
    return [t for t in targets if t["labels"]["job"] == job and t["health"] == "up"]


def test_a_stopped_target_fires_with_its_stack_and_service_and_an_ack_silences_it_until_resolved(
        deployed_pair, docker_api, client, operator):
    stack, service = deployed_pair, Service.objects.get(stack=deployed_pair, name="node-exporter")
    # One scrape per replica, each its own instance, each labelled with its stack and service.
    pair = wait_until(lambda: len(_targets(stack.prom, "pair")) == 2 and _targets(stack.prom, "pair"), 30,
                      what="both replicas discovered")
    assert len({t["labels"]["instance"] for t in pair}) == 2
    assert {(t["labels"]["stack"], t["labels"]["service"]) for t in pair} == {(stack.slug, "exporter-pair")}
    (node,) = _targets(stack.prom, "node")
    assert (node["labels"]["stack"], node["labels"]["service"]) == (stack.slug, "node-exporter")

    docker_api.stop(stack.node, timeout=1)
    fired = wait_until(lambda: _alert("firing"), 90, 1, what="TargetDown stored as firing")
    assert (fired.labels["stack"], fired.labels["service"]) == (stack.slug, "node-exporter")
    assert fired.stack == stack and fired.service == service
    assert fired.annotations["summary"] == "node is down"
    assert fired.deliveries.first().receiver == "control-panel"
    assert fired.source_link.startswith(stack.prom_public)  # --web.external-url, not a container id

    # The overview, the stack page and `alerts list --json` agree.
    client.force_login(operator)
    overview = client.get("/")
    assert {s.slug: s.firing_count for s in overview.context["stacks"]}[stack.slug] == 1
    assert "1 firing</a>" in overview.content.decode()
    assert "1 firing alert" in client.get(f"/stacks/{stack.slug}/").content.decode()
    out = StringIO()
    call_command("alerts", "list", "--json", stdout=out)
    listed = next(a for a in json.loads(out.getvalue()) if a["fingerprint"] == fired.fingerprint)
    assert (listed["stack"], listed["service"]) == (stack.slug, "node-exporter")
    page = client.get(f"/alerts/{fired.pk}/").content.decode()
    assert f'href="{fired.source_link}"'.replace("&", "&amp;") in page
    assert f"after <a href=\"/deployments/{stack.deployment.pk}/\">Deploy #{stack.deployment.pk} by script</a>" in page
    timeline = client.get(f"/stacks/{stack.slug}/timeline/").content.decode()
    assert timeline.index("TargetDown fired on node-exporter") < timeline.index(f"Deploy #{stack.deployment.pk}")

    # Acknowledge: a real silence on the alert's labels, recorded with who and why.
    r = client.post(f"/alerts/{fired.pk}/acknowledge/", {"comment": "replacing the exporter"}, follow=True)
    assert "acknowledged and silenced until it resolves" in r.content.decode()
    (silence,) = Alertmanager(stack.am).silences()
    assert silence["createdBy"] == "olga" and "replacing the exporter" in silence["comment"]
    assert {m["name"]: m["value"] for m in silence["matchers"]} == fired.labels
    page = client.get(f"/alerts/{fired.pk}/").content.decode()
    assert "Silenced until it resolves" in page and "replacing the exporter" in page
    assert acks.end_resolved() == []  # still firing: the silence stays

    # The target comes back: the panel expires the silence, Alertmanager sends the resolved.
    docker_api.start(stack.node)
    wait_until(lambda: acks.end_resolved(), 90, 1, what="the acknowledgement ended")
    assert Alertmanager(stack.am).silences() == []
    resolved = wait_until(lambda: _alert("resolved"), 90, 1, what="TargetDown stored as resolved")
    assert resolved.pk == fired.pk and resolved.resolved_at is not None and resolved.silence_expired_at
    assert Alert.objects.filter(name="TargetDown").count() == 1


def test_alerts_sent_during_a_database_outage_arrive_once_it_is_back(deployed, docker_api, caplog):
    caplog.set_level(logging.WARNING, logger="stacks.views.webhook")
    db = connection.settings_dict["NAME"]
    admin = psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True)
    try:
        admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [db])
        docker_api.stop(deployed.node, timeout=1)
        wait_until(lambda: any("could not store" in r.getMessage() for r in caplog.records), 90, 1,
                   what="a delivery refused with 503 while the database is down")
    finally:
        admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
        admin.close()
    connections.close_all()
    fired = wait_until(lambda: _alert("firing"), 90, 1, what="Alertmanager's retry to be stored")
    assert fired.stack == deployed


def test_silences_round_trip_through_alertmanager(deployed):
    am = Alertmanager(deployed.am)
    silence_id = am.create_silence({"alertname": "TargetDown", "job": "node"}, timedelta(minutes=30),
                                   "olga", "deploying node-exporter")
    active = am.silences()
    assert [s["id"] for s in active] == [silence_id]
    assert active[0]["createdBy"] == "olga" and active[0]["comment"] == "deploying node-exporter"
    assert {m["name"]: m["value"] for m in active[0]["matchers"]} == {"alertname": "TargetDown", "job": "node"}
    am.expire(silence_id)
    assert am.silences() == []


def test_prometheus_scrapes_the_panels_own_metrics_with_its_token(deployed, live_server):
    from stacks.models import ScrapeJob

    port = live_server.url.rsplit(":", 1)[1]
    ScrapeJob.objects.create(stack=deployed, job_name="control-panel", targets=[f"host.docker.internal:{port}"],
                             panel_token=True)
    d = Deployment.objects.create(stack=deployed)
    execute(d)  # a new scrape job: written and reloaded, nothing recreated
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    assert "Reloaded prometheus configuration (POST /-/reload)" in [s.message for s in d.steps.all()]

    def panel_target():
        targets = requests.get(f"{deployed.prom}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        return next((t for t in targets if t["labels"]["job"] == "control-panel" and t["health"] == "up"), None)

    wait_until(panel_target, 60, 1, what="the panel's /metrics scraped")
    value = requests.get(f"{deployed.prom}/api/v1/query", params={"query": "panel_stacks"}, timeout=5).json()
    assert value["data"]["result"][0]["value"][1] == "1"


def test_an_operator_silences_a_stored_alert_from_its_page(deployed, client, operator, viewer):
    alert = Alert.objects.create(fingerprint="cafe01", starts_at="2026-11-24T10:00Z", status="firing",
                                 name="TargetDown", stack=deployed,
                                 labels={"alertname": "TargetDown", "job": "node", "instance": "node-exporter:9100",
                                         "severity": "critical"})
    client.force_login(viewer)
    assert client.post(f"/alerts/{alert.pk}/silence/").status_code == 403
    client.force_login(operator)
    r = client.post(f"/alerts/{alert.pk}/silence/", {"matcher": ["alertname", "job"], "duration": "4h",
                                                     "comment": "node maintenance"}, follow=True)
    assert r.status_code == 200
    assert "Silenced for 4h" in r.content.decode()
    (silence,) = Alertmanager(deployed.am).silences()
    assert silence["createdBy"] == "olga" and silence["comment"] == "node maintenance"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == {"alertname": "TargetDown", "job": "node"}
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "node maintenance" in page  # the active silence is listed on the alert
    r = client.post(f"/alerts/{alert.pk}/silences/{silence['id']}/expire/", follow=True)
    assert "Silence expired." in r.content.decode()
    assert Alertmanager(deployed.am).silences() == []
    from stacks.models import AuditRecord

    assert list(AuditRecord.objects.filter(target=f"alert TargetDown #{alert.pk}").order_by("id")
                .values_list("username", "action")) == [("olga", "silence"), ("olga", "expire silence")]

    # Acknowledged, then its silence expired by hand in Alertmanager: the panel's
    # sweep finds the alert gone from Alertmanager and records the end once.
    assert acks.acknowledge(alert, operator, "by hand")
    Alertmanager(deployed.am).expire(alert.silence_id)
    assert [a.pk for a in acks.end_resolved()] == [alert.pk]
    assert acks.end_resolved() == []


def test_the_alert_a_deploy_caused_offers_to_roll_back_to_the_deployment_before_it(
        deployed, docker_api, client, operator, monkeypatch):
    stack, first = deployed, deployed.deployment
    monkeypatch.setattr("stacks.tasks.run_operation.delay", lambda pk: None)  # carried out below, in-process
    # The deploy's alerts must reach the panel here: no hold on them while it recreates
    # node-exporter (holds are test_alert_path_e2e's subject; beat would lift this one later).
    stack.hold_alerts = False
    stack.save(update_fields=["hold_alerts"])
    # A deploy that breaks the exporter's scrape: it listens elsewhere now.
    Service.objects.filter(stack=stack, name="node-exporter").update(command=["--web.listen-address=:9999"])
    broke = execute(Deployment.objects.create(stack=stack, requested_by=operator))
    assert broke.status == "succeeded", broke.error
    fired = wait_until(lambda: _alert("firing"), 90, 1, what="TargetDown stored as firing")

    client.force_login(operator)
    page = client.get(f"/alerts/{fired.pk}/").content.decode()
    assert f"Deploy #{broke.pk} by {operator.username}</a>" in page
    assert f"Roll back to the deployment before #{broke.pk}" in page
    assert f"/stacks/{stack.slug}/plan/?rollback_to={first.pk}" in page

    compute_plan(stack.pk, "tok-undo", first.pk)  # what the worker computes for the plan page
    html = client.get(f"/stacks/{stack.slug}/plan/?token=tok-undo&rollback_to={first.pk}",
                      HTTP_HX_REQUEST="true").content.decode()
    assert "service  recreate node-exporter#1 (command changed)" in html
    shown = json.loads(broker.get(plan_key("tok-undo")))["plan"]
    client.post(f"/stacks/{stack.slug}/deploy/", {"plan": shown["id"], "token": "tok-undo",
                                                  "rollback_to": first.pk}, HTTP_HX_REQUEST="true")
    undo = Deployment.objects.get(stack=stack, status="queued")
    execute(undo)
    undo.refresh_from_db()
    assert undo.status == "succeeded", undo.error
    assert Service.objects.get(stack=stack, name="node-exporter").command == []
    assert undo.version.note == f"rollback to #{first.pk}"
    resolved = wait_until(lambda: _alert("resolved"), 90, 1, what="TargetDown resolved by the rollback")
    assert resolved.pk == fired.pk
