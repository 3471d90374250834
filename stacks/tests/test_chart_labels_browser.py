"""Operation markers on the stack page's health strip, in real Chromium: a label
is shown whole, beside its line on whichever side it fits, or not at all (the
marker keeps its title); never cut ("deplo")."""
from datetime import timedelta

import pytest
from django.utils import timezone

from stacks.models import Deployment, HealthChange, Service, Stack
from stacks.tests.test_browser import base_url, browser, login, shot, wait_for_js  # noqa: F401 — Chromium fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_places_a_label_where_it_fits_whole(browser, base_url, viewer):  # noqa: F811
    page = login(browser, base_url, "victor", "viewer-pass")
    place = "([x, w, width, taken]) => [window.panelCharts.labelPlace(x, w, width, taken), taken]"
    assert page.evaluate(place, [10, 40, 300, []]) == ["right", [[10, 50]]]
    assert page.evaluate(place, [290, 40, 300, []]) == ["left", [[250, 290]]]  # at the right edge
    assert page.evaluate(place, [20, 40, 50, []]) == ["", []]  # fits on neither side: no label
    assert page.evaluate(place, [60, 40, 300, [[50, 90]]]) == ["", [[50, 90]]]  # would cover another label
    assert page.evaluate(place, [60, 0, 300, []]) == ["", []]  # a hidden label (sparklines)


def test_the_health_strip_shows_each_label_whole_or_not_at_all(browser, base_url, viewer):  # noqa: F811
    now = timezone.now()
    stack = Stack.objects.create(slug="labelled", name="Labelled")
    web = Service.objects.create(stack=stack, name="web", image="x")
    HealthChange.objects.create(service=web, at=now - timedelta(hours=2), summary="running, healthy")
    for action, ago in (("stop", 90 * 60), ("deploy", 5), ("restart", 6)):
        d = Deployment.objects.create(stack=stack, action=action, status="succeeded")
        Deployment.objects.filter(pk=d.pk).update(started=now - timedelta(seconds=ago))
    page = login(browser, base_url, "victor", "viewer-pass")
    page.goto(f"{base_url}/stacks/labelled/")
    strip = "#resources tr[data-service=web] .strip.health"
    page.wait_for_selector(f"{strip}[data-points] .chart-marker.deploy")
    markers = page.evaluate("""(sel) => {
        const over = document.querySelector(sel + " .u-over").getBoundingClientRect();
        return [...document.querySelectorAll(sel + " .chart-marker")].map((m) => {
            const label = m.querySelector(".chart-marker-label");
            const r = label && label.getBoundingClientRect();
            return {action: m.classList[1], side: m.dataset.label, title: m.title, text: label && label.textContent,
                    inside: !r || (r.left >= over.left - 0.5 && r.right <= over.right + 0.5)};
        });
    }""", strip)
    shot(page, "health-strip-labels")
    by = {m["action"]: m for m in markers}
    assert by["stop"]["side"] == "right" and by["stop"]["text"] == "stop"
    assert by["deploy"]["side"] == "left" and by["deploy"]["text"] == "deploy"  # at the right edge: to its left
    assert by["restart"]["side"] == "none" and by["restart"]["text"] is None  # a second away: no room
    assert all(m["inside"] for m in markers)
    assert all(m["title"].startswith(m["action"] + " #") for m in markers)
