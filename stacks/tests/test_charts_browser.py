"""The graphs in real Chromium, fed by the real thing: a stack deployed by the
panel (Prometheus, Alertmanager, node-exporter on the local images), its
node-exporter stopped so that TargetDown fires into the webhook, the health
poller sampling Docker stats. Screenshots go to test-artifacts/."""

import pytest

from stacks.models import ResourceSample, Service
from stacks.monitoring.health import poll_all
from stacks.tests.conftest import wait_until
from stacks.tests.test_alerts_e2e import _alert, deployed  # noqa: F401 — the deployed stack fixture
from stacks.tests.test_browser import base_url, browser, login, shot, wait_for_js  # noqa: F401 — Chromium fixtures

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _attr(page, selector, name):
    return page.locator(selector).first.get_attribute(name)


def _json(page, url):
    return page.evaluate("async (u) => (await fetch(u)).json()", url)


def test_an_operator_sees_the_alert_cross_its_threshold_after_the_deploy(deployed, browser, base_url, viewer,
                                                                         docker_api, monkeypatch):
    from stacks.engine.client import client
    from stacks.engine.connect import using
    from stacks.models import Stack

    with using(Stack.objects.get(slug=deployed.slug).engine):  # the poller samples through the stack's engine
        api, calls = client().api, []
    real_stats = api.stats
    monkeypatch.setattr(api, "stats", lambda cid, **kw: calls.append(cid) or real_stats(cid, **kw))  # a spy
    poll_all()
    assert sorted(calls) == sorted(c["Id"][:12] for c in docker_api.containers(
        filters={"label": f"com.docker.compose.project={deployed.slug}"}))  # one stats call per container
    assert ResourceSample.objects.filter(service__stack=deployed).count() == 3
    poll_all()  # a second sample: CPU is the rate between the two
    docker_api.stop(deployed.node, timeout=1)
    alert = wait_until(lambda: _alert("firing"), 90, 1, what="TargetDown stored as firing")
    poll_all()  # node-exporter is down now: a health change, and no sample for it

    page = login(browser, base_url, "victor", "viewer-pass")
    page.goto(f"{base_url}/alerts/{alert.pk}/")
    box = "#alert-graph .chart"
    page.wait_for_selector(f"{box}[data-points]:not([data-points='0'])")

    def drawn_as_served():
        served = _json(page, f"/alerts/{alert.pk}/graph.json")
        return served if int(_attr(page, box, "data-points")) == served["points"] else None

    served = wait_until(drawn_as_served, 20, 1, what="the graph to draw every point Prometheus answered")
    assert served["expr"] == "up" and served["threshold"] == 0 and served["op"] == "=="
    (series,) = served["series"]  # only the alert's own series: job="node"
    assert 'job="node"' in series["label"]
    values = [v for v in series["values"] if v is not None]
    assert values[0] == 1 and values[-1] == 0  # up, then down: the curve crosses the threshold
    deploy_at = served["markers"][0]["t"]
    assert served["markers"][0]["action"] == "deploy" and deploy_at < served["firing"][0]
    assert page.locator(f"{box} .chart-marker.deploy").count() == 1
    assert page.locator(f"{box} .chart-span.firing").inner_text() == "firing"
    assert page.locator(f"{box} .chart-span.pending").inner_text() == "for 2 s"
    assert "threshold == 0" in page.locator("#alert-graph .u-legend").inner_text()
    rows = page.locator("#alert-graph .chart-text > div:first-child tbody tr").count()
    assert rows == served["points"]  # the same numbers, for screen readers
    assert _attr(page, "#alert-graph", "data-live") == "true"
    shot(page, "alert-graph")

    page.goto(f"{base_url}/stacks/{deployed.slug}/")
    prom_row = "#resources tr[data-service=prometheus]"
    page.wait_for_selector(f"{prom_row} .spark.mem[data-points]")
    samples = ResourceSample.objects.filter(service__stack=deployed, service__name="prometheus").count()
    assert int(_attr(page, f"{prom_row} .spark.mem", "data-points")) == samples >= 2
    assert int(_attr(page, f"{prom_row} .spark.cpu", "data-points")) == samples
    assert "now" in _attr(page, f"{prom_row} .spark.mem", "title")
    node_row = "#resources tr[data-service=node-exporter]"
    served = _json(page, f"/stacks/{deployed.slug}/charts.json")
    node = next(s for s in served["services"] if s["name"] == "node-exporter")
    assert node["health"]["state"][-2:] == ["down", "down"] and "healthy" in node["health"]["state"]
    assert int(_attr(page, f"{node_row} .strip.health", "data-points")) == len(node["health"]["t"])
    assert page.locator(f"{node_row} .strip.health .chart-marker.deploy").count() == 1
    assert "down" in page.locator(f"{node_row} .chart-text caption").nth(1).inner_text()
    page.click(f"{prom_row} button.open-graph")
    page.wait_for_selector("#resources dialog[open] .chart[data-points]")
    assert int(_attr(page, "#resources dialog .chart", "data-series")) == 2  # CPU and memory
    shot(page, "stack-resources-dialog")
    page.click("#resources dialog >> text=Close")
    shot(page, "stack-resources")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    phone = login(browser, base_url, "victor", "viewer-pass", width=390)
    phone.goto(f"{base_url}/stacks/{deployed.slug}/")
    phone.wait_for_selector(f"{prom_row} .spark.mem[data-points]")
    too_wide = phone.evaluate("""() => [...document.querySelectorAll('#resources *')]
        .filter(e => !e.closest('.visually-hidden, dialog') && e.getBoundingClientRect().right > 391).map(e => e.tagName + '.' + e.className)""")
    assert too_wide == []  # the graphs fit a phone's width
    shot(phone, "stack-resources-phone")
    phone.goto(f"{base_url}/alerts/{alert.pk}/")
    phone.wait_for_selector(f"{box}[data-points]:not([data-points='0'])")
    assert phone.evaluate(f"document.querySelector('{box} canvas').getBoundingClientRect().right") <= 390
    shot(phone, "alert-graph-phone")

    page.goto(f"{base_url}/")
    strip = f"#firing-strip-{deployed.slug} .strip.firing"
    page.wait_for_selector(f"{strip}[data-points]")
    assert _attr(page, strip, "data-points") == "48"
    assert _attr(page, strip, "data-markers") == "1"
    assert "up to 1 firing at once, 1 operation" in _attr(page, strip, "aria-label")
    assert "deploy" in page.locator(f"#firing-strip-{deployed.slug} .chart-text li").last.inner_text()
    shot(page, "overview-strips")
    page.evaluate("""() => { window.__swapped = false;
        document.body.addEventListener('htmx:afterSettle', () => { window.__swapped = true; }, {once: true});
        htmx.ajax('GET', '/', {target: '#stacks tbody', swap: 'innerHTML'}); }""")
    wait_for_js(page, "window.__swapped")
    assert page.locator(f"{strip} canvas").count() == 1  # the rows' refresh keeps the strip (hx-preserve)

    prometheus = Service.objects.get(stack=deployed, name="prometheus")
    docker_api.stop(f"{deployed.slug}_{prometheus.name}_1", timeout=1)
    page.goto(f"{base_url}/alerts/{alert.pk}/")
    error = page.wait_for_selector("#alert-graph .chart-error")
    assert "Prometheus did not answer" in error.inner_text()
    shot(page, "alert-graph-unreachable")
