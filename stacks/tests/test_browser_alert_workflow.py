"""In Chromium: an operator who asked for notifications is notified of a new
critical alert on the open alerts page, and the stack's timeline shows the
deploy followed by the alert it caused."""
import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from stacks.defaults.demo import mini_monitoring
from stacks.models import Deployment
from stacks.tests.test_browser import TOKEN, base_url, browser, shot, wait_for_js  # noqa: F401 — fixtures shared with the page tests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Headless Chromium has no notification centre to look at: the page's calls to
# the real Notification constructor are recorded as they go through.
RECORD_NOTIFICATIONS = """
const Real = window.Notification;
window.__notified = [];
class Recorded extends Real {
  constructor(title, options) { super(title, options); window.__notified.push({title, body: (options || {}).body}); }
}
Recorded.requestPermission = (...args) => Real.requestPermission(...args);
Object.defineProperty(Recorded, "permission", {get: () => Real.permission});
window.Notification = Recorded;
"""


def webhook(base, slug, starts_at):
    body = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "control-panel",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://localhost:9093",
            "alerts": [{"status": "firing", "labels": {"alertname": "TargetDown", "severity": "critical",
                                                       "job": "node", "instance": "172.18.0.4:9100",
                                                       "stack": slug, "service": "node-exporter"},
                        "annotations": {"summary": "node is down"}, "startsAt": starts_at.isoformat(),
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://localhost:9090/graph",
                        "fingerprint": "5eed0001"}]}
    r = requests.post(base + "/webhooks/alertmanager/", data=json.dumps(body), timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_a_new_critical_alert_notifies_and_follows_its_deploy_on_the_timeline(browser, base_url, operator,  # noqa: F811
                                                                              monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)
    stack = mini_monitoring(slug="demo")
    deploy = Deployment.objects.create(stack=stack, requested_by=operator, status="succeeded",
                                       finished=timezone.now() - timedelta(seconds=30))
    Deployment.objects.filter(pk=deploy.pk).update(created=timezone.now() - timedelta(seconds=40))
    deploy.log("Plan: recreate node-exporter_1")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["notifications"], origin=base_url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(base_url + "/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "operator-pass")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")
    page.goto(base_url + "/alerts/")
    page.wait_for_selector("#notify-toggle[data-permission=granted]")
    assert page.locator("#notify-toggle").inner_text() == "Notifications on"

    webhook(base_url, stack.slug, timezone.now() - timedelta(seconds=5))
    page.wait_for_selector("tr.alert.firing[data-severity=critical]", timeout=15000)
    wait_for_js(page, "window.__notified.length > 0", timeout=5)
    assert page.evaluate("window.__notified") == [{"title": "CRITICAL: TargetDown",
                                                  "body": "demo/node-exporter: node is down"}]
    page.wait_for_timeout(3500)  # the next refresh does not notify again
    assert page.evaluate("window.__notified.length") == 1
    shot(page, "alerts-notified")

    page.goto(f"{base_url}/stacks/{stack.slug}/")
    events = page.locator("#timeline li.event").all_inner_texts()
    fired = next(i for i, e in enumerate(events) if "TargetDown fired on node-exporter" in e)
    deployed = next(i for i, e in enumerate(events) if f"Deploy #{deploy.pk} by olga" in e)
    assert fired < deployed  # newest first: the alert came after the deploy
    assert "recreate node-exporter_1" in events[deployed]
    shot(page, "stack-timeline")
    page.click("#timeline >> text=TargetDown fired on node-exporter")
    page.wait_for_selector("#operation-before")
    assert f"after Deploy #{deploy.pk} by olga" in page.locator("#operation-before").inner_text()
    context.close()
