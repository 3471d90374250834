"""The numbers behind the graphs and their JSON endpoints: login and methods, the
threshold taken from a rule, CPU rates from samples, health states and operation
markers, firing counts per half hour, constant query counts, and the message
when Prometheus does not answer (a real closed port)."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stacks.models import Alert, AlertRule, Deployment, HealthChange, ResourceSample, Service, ServiceHealth, Stack
from stacks.monitoring import charts
from stacks.tests.conftest import free_port

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0) + timedelta(minutes=1)  # after the rows the tests create


@pytest.fixture(autouse=True)
def _now():
    """NOW a minute after each test's own rows: taken when the test starts, not
    when the module is collected (a long suite would leave it behind them)."""
    global NOW
    NOW = timezone.now().replace(microsecond=0) + timedelta(minutes=1)


@pytest.fixture
def stack(db):
    stack = Stack.objects.create(slug="shop", name="Shop")
    Service.objects.create(stack=stack, name="web", image="x")
    return stack


@pytest.mark.parametrize("expr, expected", [
    ("up == 0", ("up", "==", 0.0)),
    ('rate(http_requests_total{code=~"5..", path!="/a>b"}[5m]) > 0.5', (
        'rate(http_requests_total{code=~"5..", path!="/a>b"}[5m])', ">", 0.5)),
    ("100 - (avg by (instance) (irate(cpu[5m])) * 100) >= 90", (
        "100 - (avg by (instance) (irate(cpu[5m])) * 100)", ">=", 90.0)),
    ("0.9 < node_load1", ("node_load1", ">", 0.9)),
    ("absent(up{job=\"node\"})", ('absent(up{job="node"})', None, None)),
    ("up > bool 0", ("up > bool 0", None, None)),
])
def test_it_splits_the_threshold_off_a_rule(expr, expected):
    assert charts.split_threshold(expr) == expected


@pytest.mark.parametrize("url", ["/alerts/1/graph.json", "/stacks/shop/charts.json", "/charts/overview.json"])
def test_the_chart_endpoints_need_a_login_and_only_read(client, viewer, stack, url):
    Alert.objects.create(pk=1, fingerprint="f", starts_at=NOW, status="firing", name="X", stack=stack)
    r = client.get(url)
    assert r.status_code == 302 and "/login/" in r["Location"]
    client.force_login(viewer)
    assert client.post(url).status_code == 405
    assert client.get(url)["Content-Type"] == "application/json"


def test_it_turns_cumulative_cpu_time_into_a_rate(client, viewer, stack):
    web = stack.services.get()
    t0 = NOW - timedelta(minutes=3)
    for i, (cpu, mem, n) in enumerate([(0, 100, 1), (15 * 10**9, 200, 1), (20 * 10**9, 300, 1), (1, 50, 2)]):
        ResourceSample.objects.create(service=web, at=t0 + timedelta(seconds=30 * i), cpu_ns=cpu, mem_bytes=mem,
                                      containers=n)
    ResourceSample.objects.create(service=web, at=NOW - timedelta(hours=2), cpu_ns=0, mem_bytes=1)  # too old
    client.force_login(viewer)
    (svc,) = client.get("/stacks/shop/charts.json").json()["services"]
    assert svc["resources"]["cpu"] == [None, 50.0, 16.67, None]  # 15 s of CPU in 30 s; a new replica: no rate
    assert svc["resources"]["mem"] == [100, 200, 300, 50]


def test_health_history_has_four_states_and_marks_operations(stack):
    web = stack.services.get()
    HealthChange.objects.create(service=web, at=NOW - timedelta(hours=30), summary="running, healthy")
    HealthChange.objects.create(service=web, at=NOW - timedelta(hours=3), summary="exited")
    HealthChange.objects.create(service=web, at=NOW - timedelta(hours=2), summary="running, probe failed (HTTP 500)")
    HealthChange.objects.create(service=web, at=NOW - timedelta(hours=1), summary="running, probe ok")
    d = Deployment.objects.create(stack=stack, action="deploy", status="succeeded")
    Deployment.objects.filter(pk=d.pk).update(started=NOW - timedelta(hours=2, minutes=1))
    r = Deployment.objects.create(stack=stack, action="restart", options={"service": "web"})
    Deployment.objects.filter(pk=r.pk).update(created=NOW - timedelta(minutes=10))
    data = charts.stack_charts(stack, now=NOW)
    health = data["services"][0]["health"]
    assert health["state"] == ["healthy", "down", "unhealthy", "healthy", "healthy"]
    assert health["seconds"] == {"healthy": 22 * 3600, "down": 3600, "unhealthy": 3600}
    assert [m["label"] for m in data["markers"]] == ["deploy", "restart web"]
    assert data["markers"][0]["t"] == int((NOW - timedelta(hours=2, minutes=1)).timestamp())


def test_the_stack_charts_run_a_constant_number_of_queries(stack):
    with CaptureQueriesContext(connection) as few:
        charts.stack_charts(stack)
    for j in range(8):
        svc = Service.objects.create(stack=stack, name=f"more{j}", image="x")
        HealthChange.objects.create(service=svc, at=NOW - timedelta(hours=25), summary="running")
        HealthChange.objects.create(service=svc, at=NOW - timedelta(hours=1), summary="exited")
        ResourceSample.objects.create(service=svc, at=NOW - timedelta(minutes=1), cpu_ns=1, mem_bytes=1)
        Deployment.objects.create(stack=stack)
    with CaptureQueriesContext(connection) as many:
        data = charts.stack_charts(stack)
    assert len(many) == len(few) == 4
    assert data["services"][1]["health"]["state"][:2] == ["healthy", "down"]


def test_the_overview_strip_counts_alerts_firing_per_half_hour(stack):
    other = Stack.objects.create(slug="quiet", name="Quiet")
    Alert.objects.create(fingerprint="a", starts_at=NOW - timedelta(hours=2), status="resolved",
                         resolved_at=NOW - timedelta(hours=1), name="A", stack=stack)
    Alert.objects.create(fingerprint="b", starts_at=NOW - timedelta(minutes=90), status="firing", name="B", stack=stack)
    Alert.objects.create(fingerprint="c", starts_at=NOW - timedelta(days=3), status="resolved",
                         resolved_at=NOW - timedelta(days=2), name="C", stack=stack)  # outside the window
    Deployment.objects.create(stack=other)
    with CaptureQueriesContext(connection) as queries:
        data = charts.overview_strips(now=NOW)
    assert len(queries) == 3
    counts = data["stacks"]["shop"]["counts"]
    assert len(counts) == 48 and max(counts) == 2 and sum(counts) >= 5
    assert counts[-1] == 1  # only B fires now
    assert data["stacks"]["quiet"]["counts"] == [0] * 48
    assert [m["action"] for m in data["stacks"]["quiet"]["markers"]] == ["deploy"]


def test_the_alert_graph_says_when_prometheus_does_not_answer(client, viewer, stack):
    prom = Service.objects.create(stack=stack, name="prometheus", role="prometheus", image="x",
                                  ports=["127.0.0.1:9999:9090"], ui_port=9090)
    # As the health poller records a deployed Prometheus (test_fetch_scope deploys one): nothing listens there.
    ServiceHealth.objects.create(service=prom, state="running", endpoint=f"http://127.0.0.1:{free_port()}")
    AlertRule.objects.create(stack=stack, name="TargetDown", expr="up == 0", for_duration="1m")
    alert = Alert.objects.create(fingerprint="f", starts_at=NOW - timedelta(minutes=5), status="firing",
                                 name="TargetDown", stack=stack, labels={"alertname": "TargetDown"})
    client.force_login(viewer)
    r = client.get(f"/alerts/{alert.pk}/graph.json")
    assert r.status_code == 502
    body = r.json()
    assert "Prometheus did not answer" in body["error"] and body["threshold"] == 0.0 and body["for_seconds"] == 60
    assert body["live"] is True
    assert 'id="alert-graph"' in client.get(f"/alerts/{alert.pk}/").content.decode()


def test_the_alert_graph_names_a_missing_rule(client, viewer, stack):
    alert = Alert.objects.create(fingerprint="f", starts_at=NOW, status="resolved", name="Gone", stack=stack)
    client.force_login(viewer)
    r = client.get(f"/alerts/{alert.pk}/graph.json")
    assert r.status_code == 404 and "No alert rule named Gone in the panel" in r.json()["error"]


def test_samples_older_than_the_retention_are_pruned(stack, settings):
    from stacks.monitoring.resources import prune

    settings.RESOURCE_SAMPLE_HOURS = 6
    web = stack.services.get()
    for hours in (7, 5, 0):
        ResourceSample.objects.create(service=web, at=NOW - timedelta(hours=hours), cpu_ns=1, mem_bytes=1)
    prune(now=NOW)
    assert sorted(ResourceSample.objects.values_list("at", flat=True)) == [NOW - timedelta(hours=5), NOW]


def test_the_alert_graph_asks_the_prometheus_that_evaluates_the_rule(client, viewer, stack):
    monitoring = Stack.objects.create(slug="monitoring", name="Monitoring")
    prom = Service.objects.create(stack=monitoring, name="prometheus", role="prometheus", image="x",
                                  ports=["127.0.0.1:9999:9090"], ui_port=9090)
    ServiceHealth.objects.create(service=prom, state="running", endpoint=f"http://127.0.0.1:{free_port()}")
    AlertRule.objects.create(stack=monitoring, name="ShopSlow", expr="latency > 2")
    alert = Alert.objects.create(fingerprint="f", starts_at=NOW - timedelta(minutes=5), status="firing",
                                 name="ShopSlow", stack=stack)  # about the shop, evaluated by monitoring
    client.force_login(viewer)
    body = client.get(f"/alerts/{alert.pk}/graph.json").json()
    assert "Prometheus did not answer" in body["error"] and body["expr"] == "latency" and body["threshold"] == 2


def test_a_young_stacks_health_strip_spans_what_is_known(stack):
    web = stack.services.get()
    HealthChange.objects.create(service=web, at=NOW - timedelta(hours=3), summary="running")
    data = charts.stack_charts(stack, now=NOW)
    assert data["since"] == int((NOW - timedelta(hours=3)).timestamp())
    assert data["services"][0]["health"]["seconds"] == {"healthy": 3 * 3600}
