"""`manage.py stack deploy|down` answered by a worker without loading Django
(stacks.management.operation_client): a real worker process, Redis and the engine; and the
Django command taking over, losing nothing, where that path cannot answer."""
import subprocess
import sys
import uuid

import pytest

from stacks.models import Deployment, Stack
from stacks.seams import broker
from stacks.tests.conftest import ROOT, Worker, wait_until


def stack_command(env, *args, python_flags=()):
    return subprocess.run([sys.executable, *python_flags, "manage.py", "stack", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def answering(worker):
    """Once the worker answers a ping: before, the command line would not wait for it."""
    from controlpanel.celery import app

    wait_until(lambda: app.control.ping(timeout=0.5), 60, 0.2, what="the worker")
    return worker


@pytest.fixture
def empty_stack(project):
    return Stack.objects.create(slug=project, name=project)


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_a_deploy_is_asked_of_the_worker_without_loading_django(celery_worker, empty_stack):
    answering(celery_worker)
    r = stack_command(celery_worker.env, "deploy", empty_stack.slug, "--wait", python_flags=["-X", "importtime"])
    assert r.returncode == 0, r.stderr
    operation = Deployment.objects.get(stack=empty_stack)
    assert f"deploy of {empty_stack.slug} queued as operation #{operation.pk}." in r.stdout
    assert "Wrote 1 changed file(s): docker-compose.yml" in r.stdout
    assert r.stdout.rstrip().endswith(f"deploy of {empty_stack.slug} succeeded.")
    assert operation.status == "succeeded" and operation.steps.filter(message="Deploy finished").exists()
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "kombu" in imported and "redis" in imported
    assert not {"django.db.models", "psycopg", "celery", "docker"} & imported, "the command loaded what it never uses"


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_unknown_and_busy_stacks_are_refused_in_the_users_terms(celery_worker, empty_stack):
    answering(celery_worker)
    r = stack_command(celery_worker.env, "deploy", "no-such-stack", "--wait")
    assert r.returncode == 1
    assert f"CommandError: No stack named 'no-such-stack' (stacks: {empty_stack.slug})." in r.stderr
    queued = Deployment.objects.create(stack=empty_stack, action="deploy")  # queued, and no message for it
    r = stack_command(celery_worker.env, "down", empty_stack.slug)
    assert r.returncode == 1
    assert f"deploy of {empty_stack.slug} (#{queued.pk}) is queued; wait for it to finish." in r.stderr
    assert Deployment.objects.filter(stack=empty_stack).count() == 1


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_a_detached_down_is_followed_to_its_end_by_number(celery_worker, empty_stack):
    answering(celery_worker)
    r = stack_command(celery_worker.env, "down", empty_stack.slug, "--detach")
    assert r.returncode == 0, r.stderr
    operation = Deployment.objects.get(stack=empty_stack)
    assert r.stdout.strip() == f"down of {empty_stack.slug} queued as operation #{operation.pk}."
    r = stack_command(celery_worker.env, "follow", str(operation.pk))
    assert r.returncode == 0, r.stderr
    assert f"down of {empty_stack.slug} succeeded." in r.stdout
    r = stack_command(celery_worker.env, "follow", "999999")
    assert r.returncode == 1 and "No operation #999999." in r.stderr


@pytest.mark.docker
@pytest.mark.celery
@pytest.mark.postgres
def test_an_operation_no_worker_takes_is_carried_out_by_the_command_line(celery_worker, empty_stack):
    """A worker answers the request, but none serves the stack's engine: the
    command line hands over to `stack follow`, which carries it out itself."""
    celery_worker.stop()
    default_queue = celery_worker.env["CELERY_TASK_DEFAULT_QUEUE"]
    worker = answering(Worker({**celery_worker.env, "PANEL_TEST_QUEUE": default_queue}).start())
    try:
        r = stack_command(celery_worker.env, "deploy", empty_stack.slug, "--wait")
    finally:
        worker.stop()
    assert r.returncode == 0, r.stderr
    assert "No worker took it within 10s: carrying it out from this process." in r.stdout
    assert f"deploy of {empty_stack.slug} succeeded." in r.stdout
    assert Deployment.objects.get(stack=empty_stack).status == "succeeded"


def test_a_request_is_handled_once_by_whoever_takes_it_first(db):
    """The worker's side of a request (tasks.queue_operation), called here: one the
    command line took back is left alone; otherwise the answer names the operation."""
    from stacks.tasks import queue_operation

    stack = Stack.objects.create(slug=f"t{uuid.uuid4().hex[:8]}", name="s")
    taken_back = uuid.uuid4().hex
    assert broker.take_request(taken_back, "command line")
    queue_operation(stack.slug, "deploy", {}, taken_back)
    assert not Deployment.objects.filter(stack=stack).exists()
    assert broker.request_answer(taken_back, 0.1) is None

    request = uuid.uuid4().hex
    queue_operation(stack.slug, "down", {"volumes": True}, request)
    operation = Deployment.objects.get(stack=stack)
    assert (operation.action, operation.options) == ("down", {"volumes": True})
    assert broker.request_answer(request, 0.1) == {"operation": str(operation.pk), "events": operation.events_stream}
    assert not broker.take_request(request, "command line")  # the worker has it

    queue_operation("no-such-stack", "deploy", {}, request := uuid.uuid4().hex)
    assert broker.request_answer(request, 0.1)["error"].startswith("No stack named 'no-such-stack'")


def test_an_operations_steps_and_end_are_readable_from_its_start(db):
    """What a waiter that subscribed late reads: every step and the status, in order."""
    stack = Stack.objects.create(slug=f"t{uuid.uuid4().hex[:8]}", name="s")
    operation = Deployment.objects.create(stack=stack)
    assert operation.claim()
    operation.log("first step")
    operation.fail("it went wrong")
    events = [e for _, e in broker.events(operation.events_stream, "0", 0.1)]
    assert [e.get("status") or e.get("message") for e in events] == ["running", "first step", "it went wrong",
                                                                      "failed"]
    assert events[-1]["error"] == "it went wrong" and events[2]["kind"] == "error"
