"""Push: a change published on Redis reaches the open pages' event streams
(/live/), through one subscription per web process; bin/serve serves them."""
import os
import signal
import subprocess
import time

import pytest
import requests

from stacks.models import Deployment, Service, ServiceHealth, Stack
from stacks.monitoring.health import poll_stack
from stacks.seams import live
from stacks.tests.conftest import ROOT, database_url, free_port, wait_until


def test_it_hands_a_topic_only_to_the_listeners_that_asked_for_it():
    mine, other = live.hub.listen(["stack:a"]), live.hub.listen(["stack:b"])
    try:
        live.publish("stack:a", "stack:a", "alerts")
        assert mine.get(2) == {"stack:a"}
        assert other.get(0.2) == set()
    finally:
        mine.close()
        other.close()


def test_an_operations_own_notices_are_heard_as_its_deployment_topic():
    from stacks.seams import broker

    listener = live.hub.listen(["deployment:424242"])
    try:
        broker.notify(424242)
        assert listener.get(2) == {"deployment:424242"}
    finally:
        listener.close()


def stream(client, topics):
    r = client.get("/live/", {"topics": topics})
    assert r.status_code == 200 and r["Content-Type"] == "text/event-stream"
    chunks = iter(r.streaming_content)
    assert b"retry:" in next(chunks)
    return r, chunks


@pytest.mark.django_db
def test_the_event_stream_says_which_topic_changed(as_viewer):
    r, chunks = stream(as_viewer, "stack:web,alerts")
    live.publish("stack:other")
    live.publish("alerts")
    assert next(chunks) == b"data: alerts\n\n"
    r.close()


@pytest.mark.django_db
def test_it_asks_for_topics_and_a_login(client, as_viewer):
    assert as_viewer.get("/live/").status_code == 400
    client.logout()
    assert client.get("/live/", {"topics": "alerts"}).status_code == 302


@pytest.mark.django_db
def test_a_health_change_is_published_and_an_unchanged_poll_is_not(db):
    stack = Stack.objects.create(slug="pushed", name="pushed")
    Service.objects.create(stack=stack, name="web", image="x")
    listener = live.hub.listen(["stack:pushed"])
    try:
        row = {"service": "web", "state": "running", "health": "", "name": "pushed-web-1"}
        poll_stack(stack, [row])
        assert listener.get(2) == {"stack:pushed"}
        poll_stack(stack, [row])
        assert listener.get(0.5) == set()
        assert ServiceHealth.objects.get(service__name="web").state == "running"
    finally:
        listener.close()


@pytest.mark.django_db
def test_an_operations_end_is_published_for_its_stack_page_and_the_overview(db):
    stack = Stack.objects.create(slug="ended", name="ended")
    d = Deployment.objects.create(stack=stack, status="running")
    listener = live.hub.listen(["stack:ended", "stacks"])
    try:
        d.finish()
        assert listener.get(2) >= {"stack:ended"}
    finally:
        listener.close()


@pytest.mark.postgres  # the server is a second process on the test database: SQLite's is in memory
@pytest.mark.django_db(transaction=True)
def test_bin_serve_listens_where_panel_bind_says_and_streams(operator, settings):
    port = free_port()
    env = {**os.environ, "PANEL_BIND": f"127.0.0.1:{port}", "DATABASE_URL": database_url(),
           "PANEL_WEB_WORKERS": "1", "PANEL_WEB_THREADS": "8", "PANEL_ACCESS_LOG": "/dev/null",
           "ALLOWED_HOSTS": "127.0.0.1"}
    proc = subprocess.Popen([str(ROOT / "bin/serve")], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(base + "/accounts/login/", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading Django
                return False

        wait_until(up, 30, 0.2, what="bin/serve answering")
        s = requests.Session()
        s.get(base + "/accounts/login/")
        s.post(base + "/accounts/login/", data={"username": "olga", "password": "operator-pass",
                                                "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": base + "/accounts/login/"})
        with s.get(base + "/live/?topics=alerts", stream=True, timeout=10) as r:
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream"), r.url
            lines = r.iter_lines(decode_unicode=True)
            assert next(lines).startswith("retry:")
            started = time.monotonic()
            live.publish("alerts")
            assert next(line for line in lines if line.startswith("data:")) == "data: alerts"
            assert time.monotonic() - started < 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
