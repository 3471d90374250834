"""POST /webhooks/alertmanager/: what Alertmanager sends, stored once, with history."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from stacks.models import Alert, AlertDelivery, Stack

pytestmark = pytest.mark.django_db
URL = "/webhooks/alertmanager/"
TOKEN = "test-token-1234567890"


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)


def alert(alertname="ServiceDown", status="firing", fingerprint="a1b2c3d4e5f60718", starts="2026-11-24T10:00:00.123456789Z",
          ends="0001-01-01T00:00:00Z", **labels):
    return {"status": status, "labels": {"alertname": alertname, "severity": "critical", **labels},
            "annotations": {"summary": f"{alertname} summary", "description": "{{ $labels.job }} raw"},
            "startsAt": starts, "endsAt": ends, "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": fingerprint}


def payload(*alerts, status="firing", **extra):
    return {"version": "4", "groupKey": '{}:{alertname="ServiceDown"}', "truncatedAlerts": 0, "status": status,
            "receiver": "control-panel", "groupLabels": {"alertname": "ServiceDown"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": list(alerts), **extra}


def post(client, body, token=TOKEN, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL, data=data, content_type="application/json", **auth, **headers)


def test_it_stores_a_firing_alert(client):
    r = post(client, payload(alert(job="node", instance="node-exporter:9100")))
    assert r.status_code == 200, r.content
    a = Alert.objects.get()
    assert (a.name, a.status, a.severity) == ("ServiceDown", "firing", "critical")
    assert a.starts_at.isoformat() == "2026-11-24T10:00:00.123456+00:00"
    assert a.annotations["description"] == "{{ $labels.job }} raw"
    assert a.ends_at is None and a.resolved_at is None


def test_a_repeat_delivery_updates_and_never_duplicates(client):
    for _ in range(3):
        assert post(client, payload(alert())).status_code == 200
    assert Alert.objects.count() == 1
    assert AlertDelivery.objects.count() == 3
    assert Alert.objects.get().deliveries.count() == 3


def test_a_delivery_lists_the_alerts_it_carried(client):
    post(client, payload(alert(fingerprint="aa"), alert(fingerprint="bb")))
    post(client, payload(alert(fingerprint="bb")))
    first, second = AlertDelivery.objects.order_by("id")
    assert sorted(first.alerts.values_list("fingerprint", flat=True)) == ["aa", "bb"]
    assert list(second.alerts.values_list("fingerprint", flat=True)) == ["bb"]
    assert list(Alert.objects.get(fingerprint="bb").deliveries) == [second, first]


@pytest.mark.postgres
def test_an_unchanged_repeat_is_recorded_on_its_delivery_but_not_written_again(client, monkeypatch):
    from stacks.alerting import ingest

    post(client, payload(alert()))
    first_seen = Alert.objects.get().last_received
    post(client, payload(alert()))
    assert Alert.objects.get().last_received == first_seen  # within SEEN_PRECISION: not rewritten
    assert Alert.objects.get().deliveries.count() == 2
    changed = alert()
    changed["annotations"]["summary"] = "now worse"
    post(client, payload(changed))
    a = Alert.objects.get()
    assert a.summary == "now worse" and a.last_received > first_seen  # a change is written at once
    monkeypatch.setattr(ingest, "SEEN_PRECISION", 0)
    post(client, payload(changed))
    assert Alert.objects.get().last_received > a.last_received  # a repeat after a while is written
    assert Alert.objects.get().deliveries.count() == 4


def test_the_last_copy_of_an_occurrence_in_one_message_wins(client):
    later = alert()
    later["annotations"]["summary"] = "later"
    assert post(client, payload(alert(), later)).json()["stored"] == 2
    assert Alert.objects.get().summary == "later"


def test_it_records_the_resolution_with_its_time(client):
    post(client, payload(alert()))
    r = post(client, payload(alert(status="resolved", ends="2026-11-24T10:05:00Z"), status="resolved"))
    assert r.status_code == 200
    a = Alert.objects.get()
    assert a.status == "resolved" and a.resolved_at is not None
    assert a.ends_at.isoformat() == "2026-11-24T10:05:00+00:00"
    # A late, out-of-order repeat of the firing message does not reopen it.
    post(client, payload(alert()))
    assert Alert.objects.get().status == "resolved"


def test_the_same_series_firing_again_later_is_a_new_occurrence(client):
    post(client, payload(alert(status="resolved", ends="2026-11-24T10:05:00Z"), status="resolved"))
    post(client, payload(alert(starts="2026-11-24T11:00:00Z")))
    assert list(Alert.objects.order_by("starts_at").values_list("status", flat=True)) == ["resolved", "firing"]


def test_it_links_alerts_to_their_stack_and_service(client, defaults):
    post(client, payload(
        alert(fingerprint="f1", job="node-exporter", instance="node-exporter:9100"),
        alert("HighCPUUsage", fingerprint="f2", name="app_web_1"),
        alert("Other", fingerprint="f3", instance="10.0.0.9:1234"),
    ))
    by_fp = {a.fingerprint: a for a in Alert.objects.select_related("stack", "service")}
    assert (by_fp["f1"].stack.slug, by_fp["f1"].service.name) == ("monitoring", "node-exporter")
    assert (by_fp["f2"].stack.slug, by_fp["f2"].service.name) == ("app", "web")
    assert by_fp["f3"].stack is None and by_fp["f3"].service is None


def test_it_accepts_newer_alertmanagers_extra_keys_and_escaped_receivers(client):
    body = payload(alert(), notification_reason="new", routeLabels={"a": "b"})
    body["receiver"] = "web\\.hook"
    assert post(client, body).status_code == 200
    assert AlertDelivery.objects.get().receiver == "web.hook"


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_it_rejects_a_missing_or_wrong_token(client, token):
    r = post(client, payload(alert()), token=token)
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert not Alert.objects.exists() and not AlertDelivery.objects.exists()


def test_it_rejects_other_methods(client):
    r = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 405


@pytest.mark.parametrize("body, reason", [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    (json.dumps(payload(alert(), version="3")), "Unsupported webhook version"),
    (json.dumps({**payload(alert()), "alerts": "x"}), "'alerts' must be a list"),
    (json.dumps(payload({**alert(), "startsAt": "yesterday"})), "alerts[0].startsAt is not an RFC 3339 time"),
    (json.dumps(payload({**alert(), "labels": {"severity": "x"}})), "alerts[0].labels has no alertname"),
    (json.dumps(payload({**alert(), "fingerprint": ""})), "alerts[0].fingerprint is missing"),
    (json.dumps(payload({**alert(), "labels": {"alertname": 3}})), "alerts[0].labels must be an object of strings"),
])
def test_it_rejects_what_is_not_a_webhook_payload(client, body, reason):
    r = post(client, body)
    assert r.status_code == 400
    assert reason in r.json()["error"]
    assert not Alert.objects.exists() and not AlertDelivery.objects.exists()


def test_a_bad_alert_among_good_ones_stores_nothing(client):
    r = post(client, payload(alert(fingerprint="ok1"), {**alert(fingerprint="bad"), "status": "weird"}))
    assert r.status_code == 400
    assert not Alert.objects.exists()


def test_it_refuses_a_body_over_the_size_limit(client, settings):
    settings.WEBHOOK_MAX_BYTES = 2000
    big = payload(*[alert(fingerprint=f"f{i}") for i in range(20)])
    r = post(client, big)
    assert r.status_code == 413
    assert not Alert.objects.exists()


def test_the_token_check_needs_no_login_but_pages_do(client):
    assert client.get("/admin/").status_code == 302


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_a_group_store_each_alert_once(live_server, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL (bin/test runs it there)")
    settings.ALLOWED_HOSTS = ["*"]
    body = json.dumps(payload(*[alert(fingerprint=f"c{i}") for i in range(50)]))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    url = live_server.url.replace("0.0.0.0", "127.0.0.1") + URL
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.post(url, data=body, headers=headers, timeout=30).status_code,
                              range(16)))
    assert codes == [200] * 16
    assert Alert.objects.count() == 50
    assert AlertDelivery.objects.count() == 16
    assert Stack.objects.count() == 0


@pytest.mark.postgres
def test_a_delivery_is_one_statement(client, defaults):
    """The token and the service map are kept in the process: storing a delivery
    is the one INSERT … ON CONFLICT that also records the delivery and its links."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post(client, payload(alert()))
    many = [alert(fingerprint=f"{i:016x}", job="node", instance="node-exporter:9100") for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        assert post(client, payload(*many)).status_code == 200
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["WITH"]
    assert AlertDelivery.objects.first().alerts.count() == 3
    assert {a.service.name for a in Alert.objects.filter(fingerprint__in=[a["fingerprint"] for a in many])} == {
        "node-exporter"}


def test_the_generated_token_is_checked_without_reading_it_again(client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stacks.accounts.tokens import webhook_token

    monkeypatch.delenv("PANEL_WEBHOOK_TOKEN")
    token = webhook_token()
    assert post(client, payload(alert()), token=token).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert post(client, payload(alert()), token=token).status_code == 200
    assert not [q for q in queries.captured_queries if "stacks_secret" in q["sql"]]


def test_a_token_changed_by_another_process_is_accepted_at_once(client, monkeypatch):
    from stacks.accounts.tokens import webhook_token
    from stacks.models import Secret

    monkeypatch.delenv("PANEL_WEBHOOK_TOKEN")
    assert post(client, payload(alert()), token=webhook_token()).status_code == 200
    Secret.objects.filter(name="panel_webhook_token").update(value="rotated-elsewhere-123")  # no signal here
    assert post(client, payload(alert()), token="rotated-elsewhere-123").status_code == 200
    assert post(client, payload(alert()), token="never-the-token").status_code == 401


def test_an_alert_for_a_service_added_by_another_process_links_to_it(client, defaults, monkeypatch):
    from stacks.alerting.ingest import Linker
    from stacks.models import Service

    monkeypatch.setattr(Linker, "LINKER_RECHECK", 0.0)
    post(client, payload(alert()))  # the map is built now
    stack = Stack.objects.get(slug="app")
    Service.objects.bulk_create([Service(stack=stack, name="worker", image="x")])  # sends no signal
    post(client, payload(alert(fingerprint="ffff000011112222", stack="app", service="worker")))
    linked = Alert.objects.get(fingerprint="ffff000011112222")
    assert (linked.stack.slug, linked.service.name) == ("app", "worker")


def test_a_service_deleted_by_another_process_leaves_the_alert_unlinked_not_refused(client, defaults):
    from django.db import connection

    from stacks.models import Service

    post(client, payload(alert()))  # the map is built now, with node-exporter in it
    gone = Service.objects.get(stack__slug="monitoring", name="node-exporter")
    with connection.cursor() as cursor:  # as another process would: no signal reaches this one
        cursor.execute("DELETE FROM stacks_service WHERE id = %s", [gone.pk])
    r = post(client, payload(alert(fingerprint="abcdabcdabcdabcd", stack="monitoring", service="node-exporter")))
    assert r.status_code == 200
    stored = Alert.objects.get(fingerprint="abcdabcdabcdabcd")
    assert stored.stack.slug == "monitoring" and stored.service_id is None


def test_deleting_a_stack_or_service_unlinks_its_alerts(client, defaults, admin_user):
    post(client, payload(alert(fingerprint="f1", job="node-exporter", instance="node-exporter:9100")))
    linked = Alert.objects.get()
    assert linked.service.name == "node-exporter"
    linked.service.delete()
    assert Alert.objects.get().service_id is None and Alert.objects.get().stack.slug == "monitoring"
    Stack.objects.get(slug="monitoring").delete()
    assert Alert.objects.get().stack_id is None
    client.force_login(admin_user)
    assert client.get(f"/alerts/{linked.pk}/").status_code == 200
