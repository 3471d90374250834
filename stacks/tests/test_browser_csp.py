"""The Content-Security-Policy in real Chromium: the main pages (overview, stack,
alerts, alert, deployment, import, the admin and its login page) load with no
violation reported, on the console or as a securitypolicyviolation event, and
htmx still swaps under the policy."""
from datetime import timedelta

import pytest
from django.utils import timezone

from stacks.models import Alert, Deployment, ResourceSample, Stack
from stacks.tests.test_browser import base_url, browser, login, shot  # noqa: F401 — Chromium fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (Playwright injects it through the DevTools
# protocol, which the page's policy does not govern).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


def watch(page):
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.add_init_script(WATCH_VIOLATIONS)
    return console


def csp_problems(page, console):
    reported = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    return reported + page.evaluate("window.__violations || []")


@pytest.fixture
def main_pages(defaults, operator):
    operator.is_staff = True  # operators edit in the admin
    operator.save()
    stack = Stack.objects.get(slug="monitoring")
    now = timezone.now()
    for i, service in enumerate(stack.services.all()[:2]):
        for minutes in (20, 10, 1):  # so that the stack page draws its CPU and memory graphs
            ResourceSample.objects.create(service=service, at=now - timedelta(minutes=minutes),
                                          cpu_ns=(60 - minutes) * 10**9 * (i + 1), mem_bytes=50_000_000 * (i + 1))
    alert = Alert.objects.create(fingerprint="ab12", starts_at=now - timedelta(minutes=5), status="firing",
                                 name="Down", severity="critical", labels={"alertname": "Down", "job": "node"},
                                 annotations={"summary": "node is down"}, stack=stack)
    deployment = Deployment.objects.create(stack=stack, action="deploy", status="succeeded")
    return ["/", f"/stacks/{stack.slug}/", "/alerts/", f"/alerts/{alert.pk}/", f"/deployments/{deployment.pk}/",
            "/stacks/import/", "/admin/", f"/admin/stacks/stack/{stack.pk}/change/"]


def test_the_main_pages_load_without_a_csp_violation(browser, base_url, main_pages):  # noqa: F811
    anonymous = browser.new_page()
    console = watch(anonymous)
    for url in ("/accounts/login/", "/admin/login/"):
        anonymous.goto(base_url + url)
        anonymous.wait_for_load_state("networkidle")
        assert anonymous.locator("input[name=password]").count() == 1, url
        assert csp_problems(anonymous, console) == [], url

    page = login(browser, base_url, "olga", "operator-pass")
    console = watch(page)
    for url in main_pages:
        page.goto(base_url + url)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)  # graphs draw after their JSON arrives
        assert csp_problems(page, console) == [], url
    page.goto(f"{base_url}{main_pages[1]}")
    page.wait_for_selector("#resources .u-wrap, #resources canvas", timeout=15000)  # uPlot drew under the policy
    shot(page, "stack-under-csp")
    assert csp_problems(page, console) == []


def test_htmx_still_swaps_under_the_policy(browser, base_url, main_pages):  # noqa: F811
    page = login(browser, base_url, "olga", "operator-pass")
    console = watch(page)
    page.goto(base_url + "/alerts/")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    swapped = page.evaluate("""() => new Promise((resolve) => {
        document.body.addEventListener("htmx:afterSwap", (e) => resolve(e.target.id), {once: true});
        setTimeout(() => resolve(null), 10000); })""")
    assert swapped == "alert-groups"  # the list refreshed itself (hx-trigger="every 3s")
    page.locator("input[name=q]").press_sequentially("node")
    page.wait_for_url("**/alerts/?*q=node*")  # hx-push-url after the filter's request
    assert page.locator("text=node is down").is_visible()
    assert csp_problems(page, console) == []
