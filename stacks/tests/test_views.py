"""Pages: login everywhere, full page and HTMX fragment, permissions on writes,
a constant number of queries."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stacks.models import Alert, Deployment, Service, ServiceHealth, Stack

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize("url", ["/", "/alerts/", "/stacks/monitoring/", "/stacks/import/", "/admin/"])
def test_every_page_needs_a_login(client, defaults, url):
    r = client.get(url)
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_the_overview_shows_stacks_health_alerts_and_links(as_viewer, defaults):
    prom = Service.objects.get(stack__slug="monitoring", name="prometheus")
    ServiceHealth.objects.create(service=prom, state="running", docker_health="healthy", probe_ok=True)
    Alert.objects.create(fingerprint="x", starts_at="2026-11-24T10:00Z", status="firing", name="ServiceDown",
                         stack=prom.stack)
    r = as_viewer.get("/")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'data-stack="monitoring"' in html and 'data-stack="app"' in html
    assert "1 / 5" in html and "1 firing" in html
    assert 'href="http://testserver:3000/"' in html  # Grafana, from the service's published port
    assert 'href="http://testserver:9090/"' in html and 'href="http://testserver:5601/"' in html


def test_links_follow_a_port_change(as_viewer, defaults):
    Service.objects.filter(name="grafana").update(ports=["127.0.0.1:3300:3000"])
    assert 'href="http://testserver:3300/"' in as_viewer.get("/").content.decode()


def test_the_overview_fragment_for_htmx(as_viewer, defaults):
    r = as_viewer.get("/", **HX)
    html = r.content.decode()
    assert r.status_code == 200
    assert "<html" not in html and 'data-stack="logging"' in html


def test_the_overview_runs_a_constant_number_of_queries(as_viewer, defaults):
    with CaptureQueriesContext(connection) as few:
        as_viewer.get("/")
    for i in range(10):
        s = Stack.objects.create(slug=f"extra{i}", name=f"extra{i}")
        for j in range(5):
            svc = Service.objects.create(stack=s, name=f"s{j}", image="x", ui_name="UI", ui_port=80,
                                         ports=[f"127.0.0.1:{20000 + i * 10 + j}:80"])
            ServiceHealth.objects.create(service=svc, state="running")
        Deployment.objects.create(stack=s, status="succeeded")
    with CaptureQueriesContext(connection) as many:
        as_viewer.get("/")
    assert len(many) == len(few)


def test_the_alerts_page_runs_a_constant_number_of_queries(as_viewer, defaults):
    def add(n, offset):
        for i in range(n):
            Alert.objects.create(fingerprint=f"f{offset + i}", starts_at="2026-11-24T10:00Z", status="firing",
                                 name=f"A{(offset + i) % 7}", stack=Stack.objects.first())
    add(3, 0)
    with CaptureQueriesContext(connection) as few:
        as_viewer.get("/alerts/")
    add(60, 100)
    with CaptureQueriesContext(connection) as many:
        as_viewer.get("/alerts/")
    assert len(many) == len(few)


def test_the_stack_page_runs_a_constant_number_of_queries(as_viewer, defaults):
    with CaptureQueriesContext(connection) as few:
        as_viewer.get("/stacks/app/")
    stack = Stack.objects.get(slug="app")
    for j in range(10):
        svc = Service.objects.create(stack=stack, name=f"more{j}", image="x")
        ServiceHealth.objects.create(service=svc, state="running")
        Deployment.objects.create(stack=stack, status="failed", error="x")
    with CaptureQueriesContext(connection) as many:
        as_viewer.get("/stacks/app/")
    assert len(many) == len(few)


def test_a_viewer_sees_no_deploy_button_and_cannot_post_it(as_viewer, defaults):
    assert 'id="deploy"' not in as_viewer.get("/stacks/monitoring/").content.decode()
    r = as_viewer.post("/stacks/monitoring/deploy/")
    assert r.status_code == 403
    assert not Deployment.objects.exists()


def test_an_operator_deploys_from_the_page(as_operator, defaults, settings, monkeypatch):
    queued = []
    monkeypatch.setattr("stacks.tasks.run_operation.delay", lambda pk: queued.append(pk))
    html = as_operator.get("/stacks/monitoring/").content.decode()
    assert 'id="deploy"' in html
    r = as_operator.post("/stacks/monitoring/deploy/", **HX)
    d = Deployment.objects.get()
    # The deployment's page comes back at once, swapped in by htmx under its own address.
    assert r.status_code == 200 and r["HX-Push-Url"] == reverse("deployment-detail", args=[d.pk])
    assert r["HX-Retarget"] == "body" and 'id="deployment-status"' in r.content.decode()
    assert d.requested_by.username == "olga" and d.status == "queued"
    r = as_operator.post("/stacks/monitoring/deploy/")  # without htmx: a plain redirect
    assert r.status_code == 302


def test_the_plan_is_asked_of_a_worker_and_polled_for(as_operator, defaults, monkeypatch):
    asked = []
    monkeypatch.setattr("stacks.views.plan.compute_plan.delay", lambda pk, token: asked.append((pk, token)))
    r = as_operator.get("/stacks/monitoring/plan/", **HX)
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert "Computing the plan against the engine" in html
    (pk, token), = asked
    assert pk == Stack.objects.get(slug="monitoring").pk and f"?token={token}" in html
    r = as_operator.get(f"/stacks/monitoring/plan/?token={token}", **HX)
    assert r.status_code == 200 and "Computing the plan" in r.content.decode()  # not there yet: keep polling
    full = as_operator.get("/stacks/monitoring/plan/")
    assert full.status_code == 200 and "<html" in full.content.decode()


def test_a_viewer_cannot_ask_for_a_plan(as_viewer, defaults):
    assert as_viewer.get("/stacks/monitoring/plan/").status_code == 403


def test_actions_are_post_only(as_operator, defaults):
    assert as_operator.get("/stacks/monitoring/deploy/").status_code == 405
    assert as_operator.get("/alerts/1/acknowledge/").status_code == 405


def test_the_deployment_fragment_stops_listening_and_shows_the_files_when_finished(as_viewer, defaults):
    d = Deployment.objects.create(stack=Stack.objects.get(slug="app"), status="running",
                                  files={"docker-compose.yml": "services: {}\n"})
    d.log("Pulling redis:7-alpine")
    r = as_viewer.get(f"/deployments/{d.pk}/?poll=1", **HX)
    html = r.content.decode()
    assert r.status_code == 200 and "Pulling redis:7-alpine" in html
    assert f'data-live="deployment:{d.pk}"' in html and "Rendered files" not in html
    d.status = "succeeded"
    d.save()
    html = as_viewer.get(f"/deployments/{d.pk}/?poll=1", **HX).content.decode()
    assert "data-live" not in html and "Rendered files" in html and "docker-compose.yml" in html


def test_the_deployment_page_shows_files_and_the_diff(as_viewer, defaults):
    stack = Stack.objects.get(slug="app")
    Deployment.objects.create(stack=stack, status="succeeded", files={"docker-compose.yml": "a: 1\n"})
    d = Deployment.objects.create(stack=stack, status="succeeded", files={"docker-compose.yml": "a: 2\n"})
    html = as_viewer.get(f"/deployments/{d.pk}/").content.decode()
    assert '<span class="del">-a: 1</span>' in html and '<span class="add">+a: 2</span>' in html


def test_alerts_filter_and_group(as_viewer, defaults):
    stack = Stack.objects.get(slug="monitoring")
    Alert.objects.create(fingerprint="a", starts_at="2026-11-24T10:00Z", status="firing", name="ServiceDown",
                         severity="critical", stack=stack, annotations={"summary": "node down"})
    Alert.objects.create(fingerprint="b", starts_at="2026-11-24T10:00Z", status="resolved", name="HighCPUUsage",
                         severity="warning")
    html = as_viewer.get("/alerts/?status=firing").content.decode()
    assert 'data-alertname="ServiceDown"' in html and 'data-alertname="HighCPUUsage"' not in html
    html = as_viewer.get("/alerts/?q=node", **HX).content.decode()
    assert "<html" not in html and "node down" in html and 'id="nav-firing" hx-swap-oob="true"' in html


def test_a_viewer_cannot_acknowledge(as_viewer, defaults):
    a = Alert.objects.create(fingerprint="a", starts_at="2026-11-24T10:00Z", status="firing", name="X")
    assert as_viewer.post(f"/alerts/{a.pk}/acknowledge/").status_code == 403
    assert as_viewer.post(f"/alerts/{a.pk}/silence/").status_code == 403


def test_an_operator_acknowledges_with_a_reason(as_operator, defaults):
    a = Alert.objects.create(fingerprint="a", starts_at="2026-11-24T10:00Z", status="firing", name="X")
    r = as_operator.post(f"/alerts/{a.pk}/acknowledge/", follow=True)
    assert "an acknowledgement needs a reason" in r.content.decode()
    a.refresh_from_db()
    assert a.acknowledged_by is None
    assert as_operator.post(f"/alerts/{a.pk}/acknowledge/", {"comment": "on it"}).status_code == 302
    a.refresh_from_db()
    assert a.acknowledged_by.username == "olga" and a.acknowledged_at


def test_import_shows_problems_next_to_their_lines(as_operator, defaults):
    text = "services:\n  web:\n    image: nginx\n    ports: ['127.0.0.1:9090:80']\n  db:\n    image: postgres\n    depends_on: [cache]\n"
    r = as_operator.post("/stacks/import/", {"slug": "pasted", "compose": text})
    html = r.content.decode()
    assert r.status_code == 200
    assert "depends on &#x27;cache&#x27;" in html
    # the problem is printed right under the line of service db
    listing = html[html.index('<pre class="annotated">'):]
    assert listing.index('<span class="ln" id="line-5">5</span>') < listing.index("depends on &#x27;cache&#x27;")
    assert html.index('id="problems"') < html.index('<form method="post" enctype')  # in view, above the form
    assert "host port 9090/tcp is also published by monitoring/prometheus" in html
    assert not Stack.objects.filter(slug="pasted").exists()


def test_import_creates_a_valid_stack(as_operator, defaults):
    text = "services:\n  web:\n    image: nginx\n    ports: ['127.0.0.1:18080:80']\n"
    r = as_operator.post("/stacks/import/", {"slug": "pasted", "compose": text})
    assert r.status_code == 302 and r["Location"] == "/stacks/pasted/"
    assert Stack.objects.get(slug="pasted").services.get().image == "nginx"


def test_a_viewer_cannot_import(as_viewer, defaults):
    r = as_viewer.post("/stacks/import/", {"slug": "pasted", "compose": "services: {a: {image: x}}"})
    assert r.status_code == 403


def test_metrics_need_the_token_or_a_login(client, defaults, monkeypatch):
    monkeypatch.setenv("PANEL_METRICS_TOKEN", "metrics-token-123")
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", "webhook-token-456")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    # The webhook's token is not the scrape's: each client holds only its own.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer webhook-token-456").status_code == 401
    r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain")
    assert "panel_stacks 3.0" in r.content.decode()


def test_the_default_monitoring_stack_scrapes_the_panel_with_its_token(defaults, monkeypatch):
    import yaml

    from stacks.render import PROMETHEUS_FILE, render_bundle

    monkeypatch.setenv("PANEL_METRICS_TOKEN", "metrics-token-123")
    prom = yaml.safe_load(render_bundle(Stack.objects.get(slug="monitoring")).files[PROMETHEUS_FILE])
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "control-panel")
    assert job["static_configs"] == [{"targets": ["host.docker.internal:8000"]}]
    assert job["authorization"] == {"type": "Bearer", "credentials": "metrics-token-123"}


def _stack_with_history(i):
    from stacks.models import AlertDelivery, DeploymentStep

    stack = Stack.objects.create(slug=f"s{i:03d}", name=f"s{i}")
    for j in range(3):
        svc = Service.objects.create(stack=stack, name=f"svc{j}", image="x", ui_name="UI" if j == 0 else "",
                                     ui_port=80, ports=[f"127.0.0.1:{21000 + i * 10 + j}:80"])
        ServiceHealth.objects.create(service=svc, state="running")
    d = Deployment.objects.create(stack=stack, status="succeeded", files={"docker-compose.yml": f"x: {i}\n"})
    DeploymentStep.objects.create(deployment=d, message="done")
    alerts = [Alert.objects.create(fingerprint=f"{i}-{k}", starts_at=f"2026-11-24T10:0{k}Z", name=f"A{k}",
                                   status="firing" if k else "resolved", stack=stack, service=svc,
                                   annotations={"summary": f"disk full {i}"}) for k in range(2)]
    AlertDelivery.objects.create(receiver="panel", group_key="g", status="firing", alert_count=2,
                                 alert_ids=[a.pk for a in alerts])
    return stack, d, alerts[1]


def test_every_page_runs_as_many_queries_with_50_stacks_as_with_1(as_viewer):
    _stack, deployment, alert = _stack_with_history(0)
    pages = ["/", "/stacks/s000/", "/alerts/", "/alerts/?status=firing", "/alerts/?severity=critical",
             "/alerts/?stack=s000", "/alerts/?q=disk", f"/alerts/{alert.pk}/", f"/deployments/{deployment.pk}/"]

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert as_viewer.get(url).status_code == 200
        return len(queries)

    one = {url: count(url) for url in pages}
    for i in range(1, 50):
        _stack_with_history(i)
    assert {url: count(url) for url in pages} == one
