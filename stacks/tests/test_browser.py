"""The panel in real Chromium (Debian's package, driven by Playwright): log in, see
the stacks, deploy and watch progress without a reload, see an alert arrive,
and a viewer who cannot deploy. Screenshots go to test-artifacts/."""
import json
import os
import time
from pathlib import Path

import pytest
import requests

from stacks.defaults.demo import mini_monitoring
from stacks.models import Deployment, Stack
from stacks.tests.conftest import BROWSERS, ROOT, close_browser_pages, free_port

# Playwright's sync API keeps an event loop in this thread; Django's ORM calls in
# the test itself are still synchronous, so its async-safety guard is off here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-token-0123456789"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("Chromium is missing: bin/setup installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (bin/setup installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        BROWSERS.append(b)
        yield b
        BROWSERS.remove(b)
        b.close()


@pytest.fixture
def base_url(live_server, settings):
    settings.ALLOWED_HOSTS = ["*"]
    yield live_server.url.replace("0.0.0.0", "127.0.0.1")
    close_browser_pages()


def login(browser, base_url, username, password, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(20000)
    page.goto(base_url + "/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")
    return page


def wait_for_js(page, expression, timeout=20):
    """page.wait_for_function, without its string predicate: Playwright compiles that
    inside the page, which the Content-Security-Policy forbids (no 'unsafe-eval');
    page.evaluate goes through the DevTools protocol, which the policy does not govern."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {expression}")
        page.wait_for_timeout(100)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_viewer_logs_in_sees_the_stacks_and_cannot_deploy(browser, base_url, viewer, defaults):
    page = login(browser, base_url, "victor", "viewer-pass")
    rows = page.locator("#stacks tbody tr")
    assert rows.count() == 3
    assert page.locator("tr[data-stack=monitoring] a.ui-link", has_text="Grafana").get_attribute("href") == \
        "http://127.0.0.1:3000/"
    shot(page, "overview")
    page.click("text=Monitoring")
    page.wait_for_selector("#services tr[data-service=prometheus]")
    assert page.locator("#deploy").count() == 0
    shot(page, "stack-viewer")
    # Posting the deploy URL directly, with the page's own CSRF token, is refused.
    status = page.evaluate("""async () => {
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
        const r = await fetch('/stacks/monitoring/deploy/', {method: 'POST', headers: {'X-CSRFToken': token}});
        return r.status; }""")
    assert status == 403
    assert not Deployment.objects.exists()
    phone = login(browser, base_url, "victor", "viewer-pass", width=390)
    shot(phone, "overview-phone")


def test_an_alert_posted_to_the_webhook_appears_on_the_open_alerts_page(browser, base_url, viewer, monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)
    page = login(browser, base_url, "victor", "viewer-pass")
    page.goto(base_url + "/alerts/")
    assert page.locator("section.group").count() == 0
    body = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "panel",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "critical",
                                                       "instance": "db:9100"},
                        "annotations": {"summary": "Disk almost full on db"},
                        "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": "0123abcd"}]}
    r = requests.post(base_url + "/webhooks/alertmanager/", data=json.dumps(body), timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 200
    page.wait_for_selector("section.group[data-alertname=DiskFull]", timeout=15000)
    assert page.locator("text=Disk almost full on db").is_visible()
    assert page.locator("#nav-firing").inner_text() == "1"
    shot(page, "alerts")
    page.click("text=Disk almost full on db")
    page.wait_for_selector("h1:has-text('DiskFull')")
    shot(page, "alert-detail")


@pytest.mark.docker
@pytest.mark.celery
def test_an_operator_deploys_and_watches_progress_without_a_reload(browser, base_url, operator, project,
                                                                    celery_worker, docker_api):
    stack = mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())
    page = login(browser, base_url, "olga", "operator-pass")
    page.goto(f"{base_url}/stacks/{stack.slug}/")
    page.click("#deploy")
    # The plan, computed by the worker against the engine, comes before the confirmation.
    page.wait_for_selector("#plan-lines:has-text('service create prometheus#1')")
    assert page.locator("#plan-lines").inner_text().count("create") >= 4  # the network and three containers
    shot(page, "plan")
    page.click("#confirm-deploy")
    page.wait_for_url(f"{base_url}/deployments/*/")
    # Mark the document: if the page reloaded, the mark would be gone.
    page.evaluate("window.__no_reload = true")
    page.wait_for_selector("#deployment-status:has-text('succeeded')", timeout=120000)
    assert page.evaluate("window.__no_reload") is True
    steps = page.locator("#steps li").all_inner_texts()
    assert "service create prometheus#1" in page.locator("#applied-plan").inner_text()
    assert any("Plan: create" in s for s in steps)
    assert any(f"Started {stack.slug}_prometheus_1" in s for s in steps)
    shot(page, "deployment")
    d = Deployment.objects.get(stack=stack)
    assert d.status == "succeeded" and d.requested_by == operator
    assert d.options["plan"] == d.plan["id"]  # the plan shown is the plan confirmed and applied
    page.goto(f"{base_url}/stacks/{stack.slug}/")
    shot(page, "stack-operator")
    page.click("tr[data-service=prometheus] >> text=Logs")
    page.wait_for_selector("pre.logs:has-text('Server is ready to receive web requests')", timeout=30000)
    shot(page, "logs")
    assert Stack.objects.filter(slug=stack.slug).exists()


def test_an_operator_pastes_a_compose_file_and_sees_problems_by_their_lines(browser, base_url, operator, defaults):
    page = login(browser, base_url, "olga", "operator-pass")
    page.click("nav >> text=Import")
    page.fill("input[name=slug]", "pasted")
    page.fill("textarea[name=compose]", "services:\n  web:\n    image: nginx\n    depends_on: [db]\n")
    page.click("form >> text=Import")
    problem = page.locator("pre.annotated .problem")
    assert "depends on 'db', which is not a service of this stack." in problem.first.inner_text()
    shot(page, "import-problems")
    page.fill("textarea[name=compose]", "services:\n  web:\n    image: nginx\n")
    page.click("form >> text=Import")
    page.wait_for_url(f"{base_url}/stacks/pasted/")
    assert page.locator("#services tr[data-service=web]").count() == 1
