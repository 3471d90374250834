"""Deploys run by a real Celery worker process against Redis, as in production."""
import subprocess
import sys
import time

import pytest

from stacks.defaults.demo import mini_monitoring
from stacks.models import Busy, Deployment, Service
from stacks.tasks import request_operation
from stacks.tests.conftest import ROOT, database_url, free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.celery, pytest.mark.postgres]


def finished(deployment, timeout=120):
    def done():
        deployment.refresh_from_db()
        return deployment.is_done

    wait_until(done, timeout, 0.3, what=f"operation #{deployment.pk}")
    return deployment


@pytest.fixture
def mini(project, transactional_db):
    return mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())


def test_a_worker_deploys_what_the_panel_queued(mini, celery_worker, docker_api):
    d = request_operation(mini, "deploy")
    assert d.status == "queued"
    finished(d)
    assert d.status == "succeeded", d.error
    assert d.started and d.finished and d.steps.count() > 3
    names = {c["Names"][0] for c in docker_api.containers(filters={"label": f"com.docker.compose.project={mini.slug}"})}
    assert f"/{mini.slug}_prometheus_1" in names


def test_a_second_request_is_refused_while_one_is_under_way(mini, celery_worker):
    first = request_operation(mini, "deploy")
    with pytest.raises(Busy, match=rf"deploy of {mini.slug} \(#{first.pk}\) is (queued|running); wait"):
        request_operation(mini, "deploy")
    finished(first)
    second = request_operation(mini, "deploy")
    assert finished(second).status == "succeeded"


def test_a_worker_killed_mid_deploy_then_a_redeploy_converges(mini, celery_worker, docker_api, settings):
    # A dependency that takes a while to become healthy keeps the deploy busy.
    Service.objects.filter(stack=mini, name="node-exporter").update(
        healthcheck={"test": ["CMD", "sh", "-c", "sleep 4"], "interval": "1s", "timeout": "10s", "retries": 3})
    Service.objects.filter(stack=mini, name="prometheus").update(depends_on={"node-exporter": "service_healthy"})
    d = request_operation(mini, "deploy")
    wait_until(lambda: d.steps.filter(message__startswith="Waiting for node-exporter").exists(), 60,
               what="the deploy to be waiting on its dependency")
    celery_worker.kill()
    d.refresh_from_db()
    assert d.status == "running"
    # The lock the dead worker held expires; the next request takes over.
    from stacks.seams.broker import LOCK_TTL

    time.sleep(LOCK_TTL + 1)
    celery_worker.start()
    again = request_operation(mini, "deploy")
    d.refresh_from_db()
    assert d.status == "failed" and "stopped before it finished" in d.error
    assert finished(again).status == "succeeded", again.error
    running = {c["Labels"]["com.docker.compose.service"]
               for c in docker_api.containers(filters={"label": f"com.docker.compose.project={mini.slug}"})}
    assert running == {"prometheus", "alertmanager", "node-exporter"}


def test_the_command_line_waits_and_reports_failure(mini, celery_worker):
    Service.objects.filter(stack=mini, name="node-exporter").update(image="registry.invalid/none:1")
    env = {**celery_worker.env}
    result = subprocess.run([sys.executable, "manage.py", "stack", "deploy", mini.slug, "--wait"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode != 0
    assert "Pulling registry.invalid/none:1" in result.stdout
    assert "Cannot pull image registry.invalid/none:1" in result.stderr
    assert Deployment.objects.get(stack=mini).status == "failed"


def test_the_command_line_deploys_shows_status_and_takes_it_down(mini, celery_worker):
    env = {**celery_worker.env}
    run = lambda *a: subprocess.run([sys.executable, "manage.py", "stack", *a], cwd=ROOT, env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=180)
    result = run("deploy", mini.slug, "--wait")
    assert result.returncode == 0, result.stderr
    assert f"deploy of {mini.slug} succeeded." in result.stdout
    status = run("status", mini.slug)
    assert status.returncode == 0
    assert f"{mini.slug}_prometheus_1" in status.stdout and "running" in status.stdout
    result = run("down", mini.slug, "--volumes", "--wait")
    assert result.returncode == 0, result.stderr
    assert run("status", mini.slug).stdout.strip() == f"{mini.slug}: no containers."
    assert database_url()


def test_the_logs_page_shows_a_containers_last_lines_fetched_by_the_worker(mini, celery_worker, client, viewer):
    d = request_operation(mini, "deploy")
    assert finished(d).status == "succeeded"
    client.force_login(viewer)
    url = f"/stacks/{mini.slug}/services/prometheus/logs/"

    def lines():
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        return "Server is ready to receive web requests." in html and html

    html = wait_until(lines, 30, 0.5, what="log lines fetched by the worker")
    assert "<html" not in html
    r = client.get(url + "?follow=0", HTTP_HX_REQUEST="true")
    assert r.status_code == 286  # paused: htmx stops polling


def test_an_open_logs_page_hears_each_new_line_without_asking_again(project, celery_worker, client, viewer):
    """The page fetches its lines once; then a worker follows the container's log
    stream and each new line arrives as a notice (the page's only trigger now);
    once nobody watches, the worker stops following."""
    from stacks.models import Network, Stack
    from stacks.monitoring import logs
    from stacks.seams import broker, live

    stack = Stack.objects.create(slug=project, name=project)
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="ticker", image="panel-local/busybox", restart="no", command=[
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"])
    assert finished(request_operation(stack, "deploy")).status == "succeeded"
    client.force_login(viewer)
    listener = live.hub.listen([logs.topic(project, "ticker")])
    try:
        page = client.get(f"/stacks/{project}/services/ticker/logs/").content.decode()
        assert 'hx-trigger="live"' in page and "every" not in page.split('id="log-box"')[1].split(">")[0]
        heard = 0
        deadline = time.monotonic() + 30
        while heard < 4 and time.monotonic() < deadline:
            heard += len(listener.get(1) or ())
        assert heard >= 4, "the worker did not push new lines"
        first = logs.cached(project, "ticker")[0]
        time.sleep(1.5)
        later = logs.cached(project, "ticker")[0]
        tick = lambda lines: int(lines[-1].rsplit(" ", 1)[1])  # noqa: E731
        assert tick(later) > tick(first), (first[-1:], later[-1:])
        html = client.get(f"/stacks/{project}/services/ticker/logs/", HTTP_HX_REQUEST="true").content.decode()
        assert "tick " in html and "<html" not in html

        # The page closed (its lease ends): the follower lets go, and no more notices come.
        broker.connection().delete(logs.key(project, "ticker") + ":watched")
        wait_until(lambda: not broker.get(logs.key(project, "ticker") + ":following"), 15,
                   what="the follower to stop once nobody watches")
        listener.get(1)
        assert listener.get(2) == set()
    finally:
        listener.close()


def test_deploy_wait_with_no_worker_carries_the_operation_out_itself(mini, settings):
    import os
    import uuid

    env = {**os.environ, "DATABASE_URL": database_url(), "STACKS_DIR": str(settings.STACKS_DIR),
           "CELERY_TASK_DEFAULT_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}"}  # a queue no worker consumes
    result = subprocess.run([sys.executable, "manage.py", "stack", "deploy", mini.slug, "--wait"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "carrying it out from this process" in result.stdout
    assert f"deploy of {mini.slug} succeeded." in result.stdout
    assert Deployment.objects.get(stack=mini).status == "succeeded"
