"""Pages that stay true by themselves, in real Chromium: idle pages hold one push
connection and make no polls; an open alert page turns resolved in place; an
open deployment page shows its rendered files when it succeeds; a failed import
shows its problem in view; the alert page fits a 390 px phone."""
import json
import time

import pytest
import requests
from django.utils import timezone

from stacks.models import Alert, Deployment, Stack
from stacks.tests.test_browser import ARTIFACTS, CHROMIUM, TOKEN, base_url, browser, login, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pushing(page):
    page.wait_for_selector("body[data-push=open]", timeout=10000)


def test_three_idle_pages_hold_a_push_connection_and_do_not_poll(browser, base_url, viewer, defaults):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    first = context.new_page()
    first.goto(base_url + "/")
    first.fill("input[name=username]", "victor")
    first.fill("input[name=password]", "viewer-pass")
    first.click("button[type=submit]")
    first.wait_for_url(base_url + "/")
    pages = [first, context.new_page(), context.new_page()]
    for page, path in zip(pages, ["/stacks/monitoring/", "/", "/alerts/"]):
        page.goto(base_url + path)
        pushing(page)
    page = pages[0]
    page.wait_for_timeout(1000)  # the charts' first load
    seen = []
    context.on("request", lambda r: seen.append(r.url))
    page.wait_for_timeout(20000)
    assert len(seen) <= 3, seen
    for page in pages:
        assert page.evaluate("document.body.dataset.push") == "open"
    context.close()


def test_an_open_alert_page_turns_resolved_in_place(browser, base_url, viewer, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)
    alert = Alert.objects.create(fingerprint="feed01", starts_at=timezone.now(), status="firing", name="DiskFull",
                                 labels={"alertname": "DiskFull"}, annotations={"summary": "Disk almost full"})
    page = login(browser, base_url, "victor", "viewer-pass")
    page.goto(f"{base_url}/alerts/{alert.pk}/")
    pushing(page)
    page.evaluate("window.__no_reload = true")
    assert page.locator("#alert-status").inner_text() == "firing"
    body = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "resolved", "receiver": "panel",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": [{"status": "resolved", "labels": {"alertname": "DiskFull"},
                        "annotations": {"summary": "Disk almost full"},
                        "startsAt": alert.starts_at.isoformat(), "endsAt": timezone.now().isoformat(),
                        "generatorURL": "", "fingerprint": "feed01"}]}
    started = time.monotonic()
    r = requests.post(base_url + "/webhooks/alertmanager/", data=json.dumps(body), timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 200
    page.wait_for_selector("#alert-status:has-text('resolved')", timeout=10000)
    assert time.monotonic() - started < 10
    assert page.evaluate("window.__no_reload") is True
    assert "UTC" in page.locator("#alert-resolved").inner_text() or page.locator("#alert-resolved time").count()


def test_an_open_deployment_page_shows_its_steps_at_once_and_its_files_when_it_succeeds(
        browser, base_url, viewer, defaults):  # noqa: F811
    d = Deployment.objects.create(stack=Stack.objects.get(slug="app"))
    page = login(browser, base_url, "victor", "viewer-pass")
    page.goto(f"{base_url}/deployments/{d.pk}/")
    pushing(page)
    assert page.locator("#rendered-files").count() == 0
    # What the worker does to the row, step by step.
    d.claim()
    d.files = {"docker-compose.yml": "services:\n  web: {image: nginx}\n"}
    d.save(update_fields=["files"])
    started = time.monotonic()
    d.log("Pulled nginx")
    page.wait_for_selector("#steps li:has-text('Pulled nginx')", timeout=5000)
    delay = time.monotonic() - started
    assert delay < 1.5, f"the step took {delay:.2f}s to show"
    d.finish()
    page.wait_for_selector("#rendered-files", timeout=5000)
    assert page.locator("#deployment-status").inner_text() == "succeeded"
    assert "docker-compose.yml" in page.locator("details.file summary").first.inner_text()
    shot(page, "deployment-pushed")


def test_a_failed_import_shows_its_problem_in_view(browser, base_url, operator, defaults):  # noqa: F811
    page = login(browser, base_url, "olga", "operator-pass", width=1366)
    page.set_viewport_size({"width": 1366, "height": 700})
    page.click("nav >> text=Import")
    page.fill("input[name=slug]", "walkweb")
    page.fill("textarea[name=compose]", "services:\n  web:\n    image: nginx\n    restart_policy: always\n")
    page.click("form >> text=Import")
    problem = page.locator("#problems li").first
    problem.wait_for()
    assert "services.web.restart_policy: Compose has no key 'restart_policy' here" in problem.inner_text()
    assert page.evaluate("""() => { const r = document.querySelector('#problems li').getBoundingClientRect();
                                     return r.top >= 0 && r.bottom <= window.innerHeight; }""")
    shot(page, "import-problem-in-view")


def test_the_alert_page_fits_a_phone(browser, base_url, viewer, defaults):  # noqa: F811
    alert = Alert.objects.create(
        fingerprint="feed02", starts_at=timezone.now(), status="firing", name="AVeryLongAlertNameThatKeepsGoing",
        labels={"alertname": "AVeryLongAlertNameThatKeepsGoing", "instance": "a-very-long-host-name.example:9100"},
        generator_url="http://localhost:9090/graph?g0.expr=" + "up%7Bjob%3D%22node%22%7D%20%3D%3D%200" * 6)
    page = login(browser, base_url, "victor", "viewer-pass", width=390)
    d = Deployment.objects.create(stack=Stack.objects.get(slug="monitoring"), status="succeeded",
                                  files={"prometheus/prometheus.yml": "x" * 300})
    for path in (f"/alerts/{alert.pk}/", "/alerts/", "/", "/stacks/import/", "/stacks/monitoring/",
                 f"/deployments/{d.pk}/", "/stacks/monitoring/services/prometheus/logs/",
                 "/stacks/monitoring/edit/"):  # the last: the 403 page
        page.goto(base_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide"
    page.goto(f"{base_url}/alerts/{alert.pk}/")
    shot(page, "alert-phone")
