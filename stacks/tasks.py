"""Celery tasks: thin wrappers that load a row and call one function, plus the
helpers that start them (queueing an operation, asking a worker on another host).
Task names are what a running install may have queued: keep them.

One operation per stack at a time: Deployment.objects.record() refuses a second
one, and the worker running it holds the stack's Redis lock (broker.StackLock)."""
import json
import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import connection
from django.utils import timezone

# The Celery app is loaded with the tasks, not at Django start-up (controlpanel/
# __init__), so that commands that queue nothing do not load Celery.
from controlpanel.celery import app
from stacks import queues
from stacks.adoption import git_sync
from stacks.adoption.adopt import ImportError_, adopt_on
from stacks.alerting import acks, retention
from stacks.engine.backend import get_backend
from stacks.engine.client import explain
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.engine.plan import recorded
from stacks.models import Busy, Deployment, Engine, GitSource, Service, Stack
from stacks.monitoring import health, logs, updates
from stacks.notifications import deliver, watch
from stacks.operations import requests
from stacks.operations.execute import execute
from stacks.operations.planning import plan_deploy, plan_rollback
from stacks.operations.verbs import VERBS
from stacks.render import secret_mask
from stacks.seams import broker

log = logging.getLogger(__name__)


class OperationTask(DjangoTask):
    """delay_on_commit's delay: the operation goes to its engine's queue
    (engine.NAME), and a broker that is down is said on the row, not lost."""

    def delay(self, deployment_id):
        try:
            queue = Deployment.objects.select_related("stack__engine").get(pk=deployment_id).stack.engine.queue
            return self.apply_async((deployment_id,), queue=queue)
        except Exception as exc:  # noqa: BLE001 — the broker is down: say so on the row
            log.warning("Could not queue operation #%s: %s", deployment_id, exc)
            d = Deployment.objects.filter(pk=deployment_id, status=Deployment.QUEUED).first()
            if d is not None:
                d.fail(f"The task queue (Redis) is unreachable, so the operation was not started: {exc}")


# --- Operations ---------------------------------------------------------------------

@shared_task(base=OperationTask, acks_late=True)
def run_operation(deployment_id):
    deployment = Deployment.objects.select_related("stack__engine").filter(pk=deployment_id).first()
    if deployment is None:
        return  # a delete that succeeded took its own row away
    if deployment.claim():  # else already handled (a redelivered message, or a script carried it out)
        execute(deployment)


def request_operation(stack, action, user=None, options=None, plan=None):
    """Record `action` on `stack` and queue it once the row is committed (see
    stacks.operations.requests). Raises Busy, or ValueError for an unknown verb."""
    return requests.request(stack, action, run_operation.delay_on_commit, user=user, options=options, plan=plan)


def workers_alive(timeout=1.0):
    try:
        return bool(app.control.ping(timeout=timeout, limit=1))  # the first answer is enough
    except Exception:  # noqa: BLE001 — no broker means no worker either
        return False


def run_here(deployment_id):
    """Carry out a queued operation in this process (scripts with no worker running).
    A worker that later receives its message finds it no longer queued and skips it."""
    try:
        run_operation.run(deployment_id)
    finally:
        connection.close()  # this thread's own connection


def _answer(request_id, work, refusals, what):
    """A request asked of a worker and answered through Redis (broker.ask_a_worker):
    work() gives the answer's fields; a refusal (one of `refusals`) is answered in
    its own words, anything else answered and then raised for the worker's log.
    A request its asker took back meanwhile is left alone."""
    if not broker.take_request(request_id, "worker"):
        return
    try:
        fields = work()
    except refusals as exc:
        broker.answer_request(request_id, error=str(exc))
        return
    except Exception as exc:
        broker.answer_request(request_id, error=f"The worker could not {what}: {exc}")
        raise
    broker.answer_request(request_id, **fields)


@shared_task(ignore_result=True)
def queue_operation(slug, action, options, request_id):
    """`stack deploy|down` asked by the command line without Django
    (stacks.management.operation_client): the operation is recorded and queued
    here; the answer is its number and event stream, or why not."""
    def work():
        deployment = request_operation(Stack.named(slug), action, options=options)
        return {"operation": deployment.pk, "events": deployment.events_stream}

    verb = VERBS.get(action)
    if verb is not None and verb.from_command_line:
        _answer(request_id, work, (Stack.DoesNotExist, Busy), f"queue the {action}")


# --- Adoption on the host where a project's files are ---------------------------------

ASK_PATIENCE = 30  # seconds for another host's worker to adopt a project there


@shared_task(ignore_result=True)
def adopt_project(engine_id, project, slug, request_id):
    """Adopt, asked of the worker on the host of an engine (adopt_anywhere): the
    project's files and the stack's state file are on this host."""
    def work():
        stack, problems, kept = adopt_on(Engine.objects.get(pk=engine_id), project, slug)
        return {"slug": stack.slug if stack else "", "problems": json.dumps(problems), "kept": json.dumps(kept)}

    _answer(request_id, work, (ValueError, EngineError), f"adopt {project}")


def adopt_anywhere(engine, project, slug=None, environ=None):
    """adopt_on() here for the local engine; for an engine on another host, by the
    worker that serves it there (adopt_project), where the project's files are,
    within ASK_PATIENCE seconds. ValueError in the user's terms when no worker
    answers or the adoption is refused."""
    if not engine.docker_host:
        return adopt_on(engine, project, slug, environ)
    try:
        answer = broker.ask_a_worker(lambda request_id: adopt_project.apply_async(
            (engine.pk, project, slug, request_id), queue=engine.queue, expires=ASK_PATIENCE + 60), ASK_PATIENCE)
    except broker.BrokerError as exc:
        raise ImportError_(f"Cannot reach the workers: {exc}") from None
    if answer is None:
        raise ImportError_(f"No worker of engine {engine.name} answered within {ASK_PATIENCE}s: the project's "
                           f"files are on that host, so its worker adopts it "
                           f"(celery -A controlpanel worker -Q {engine.queue}).")
    if "error" in answer:
        raise ImportError_(answer["error"])
    stack = Stack.objects.filter(slug=answer["slug"]).first() if answer.get("slug") else None
    return stack, json.loads(answer["problems"]), json.loads(answer["kept"])


# --- Beat -------------------------------------------------------------------------------

@shared_task
def poll_health():
    """Beat's tick: one poll per engine, on that engine's queue, so each engine is
    polled by a worker that can reach it and a slow engine delays only itself."""
    for engine in Engine.objects.all():  # with no stack yet, it may run projects to adopt
        poll_engine.apply_async((engine.pk,), queue=engine.queue, expires=60)


@shared_task
def poll_engine(engine_id):
    """An engine's stacks' health, and the projects on it that no stack manages."""
    engine = Engine.objects.filter(pk=engine_id).first()
    if engine is not None:
        health.poll_all(engine)
        health.note_unmanaged(engine)


@shared_task
def refresh_served_queues():
    """Beat: which engine queues have a worker, kept for the overview (3 ticks long,
    so that it never expires between two)."""
    queues.refresh_served_queues(int(3 * settings.PANEL_WORKER_QUEUES_SECONDS))


@shared_task
def announce_engines():
    """Beat: workers started without -Q take up engines that became reachable, or
    were added in the admin, since they started."""
    queues.announce_engines()


@shared_task
def watch_stacks():
    """Beat: the alert path, drift, unhealthy services and held alerts of every
    stack, per engine on that engine's queue (drift asks the engine)."""
    for engine in Engine.objects.all():
        watch_engine.apply_async((engine.pk,), queue=engine.queue, expires=60)


@shared_task
def watch_engine(engine_id):
    engine = Engine.objects.filter(pk=engine_id).first()
    if engine is not None:
        watch.watch_engine(engine)


@shared_task
def deliver_events():
    """Beat: the panel's events due for delivery (an outbox: a failed one is tried
    again with backoff, and a broker outage loses nothing)."""
    deliver.deliver_due()


@shared_task
def end_resolved_acknowledgements():
    acks.end_resolved()


@shared_task
def prune_alerts():
    retention.prune()


@shared_task
def check_image_updates():
    """Beat: ask the registries about the images in use (monitoring.updates), then
    deploy the updates whose services' policy is apply, inside their window; an
    update already tried (whatever its outcome) is not tried again by beat."""
    updates.check()
    for stack, pins in updates.due():
        tried = Deployment.objects.filter(stack=stack, action="deploy").order_by("-id")[:20]
        if any(d.options.get("update") == pins for d in tried):
            continue
        try:
            request_operation(stack, "deploy", options={"update": pins})
        except Busy:
            continue  # another operation runs: the next tick tries again


# --- Container logs: followed by the worker while a page watches (monitoring.logs)

def watch_logs(service):
    """A page shows the service's lines: keep it followed (and ask a worker to
    follow it when none does). Returns (lines, fetched) as last stored."""
    slug, name = service.stack.slug, service.name
    if logs.watch(slug, name):
        follow_logs.apply_async((service.pk,), queue=service.stack.engine.queue)
    return logs.cached(slug, name)


def refresh_logs(service):
    """A paused page: one fresh read, at most once every two seconds per service."""
    if broker.set_once(logs.key(service.stack.slug, service.name) + ":asked", 2):
        fetch_logs.apply_async((service.pk,), queue=service.stack.engine.queue)
    return logs.cached(service.stack.slug, service.name)


@shared_task
def follow_logs(service_id):
    """Start following a service's logs in this worker process (a thread; the task
    returns at once), until no page watches them."""
    service = Service.objects.select_related("stack__engine").filter(pk=service_id).first()
    if service is None:
        return
    with using(service.stack.engine):
        logs.follow(service, service.stack.engine.backend, secret_mask(service.stack))


@shared_task
def fetch_logs(service_id):
    service = Service.objects.select_related("stack__engine").filter(pk=service_id).first()
    if service is None:
        return
    try:
        with using(service.stack.engine):
            text = get_backend(service.stack.engine.backend).logs(service.stack.slug, service.name, tail=logs.LINES)
        lines = text.splitlines()[-logs.LINES:] or ["(no output yet)"]
    except EngineError as exc:
        lines = [f"(logs unavailable: {exc})"]
    mask = secret_mask(service.stack)
    logs.store(service.stack.slug, service.name, [mask(line) for line in lines])


# --- Plans: computed by a worker (it has the engine), read by the web process ---
PLAN_TTL = 600


def plan_key(token):
    return f"panel:plan:{token}"


@shared_task
def compute_plan(stack_id, token, rollback_to=None, update=False):
    """Render, validate and plan a stack against the engine (rolled back to a
    deployment, with rollback_to; with the image updates found, with update);
    the result waits in Redis for the page that asked."""
    stack = Stack.objects.filter(pk=stack_id).first()
    if stack is None:
        return
    try:
        if rollback_to:
            bundle, problems, plan = plan_rollback(stack, rollback_to)
        else:
            bundle, problems, plan = plan_deploy(stack, updates.pins(stack) if update else None)
        payload = {"bundle_hash": bundle.hash, "problems": [str(p) for p in problems],
                   "plan": recorded(plan) if plan else None}
    except Exception as exc:  # noqa: BLE001 — shown on the page in plain words
        log.warning("Plan of %s failed: %s", stack.slug, exc)
        payload = {"error": str(explain(exc))}
    broker.put(plan_key(token), json.dumps(payload), PLAN_TTL)


# --- Git -----------------------------------------------------------------------------

def sync_and_deploy(source, force=False, user=None):
    """One sync of a Git stack (stacks.adoption.git_sync), then, when its policy
    is to deploy and the commit its definition is at has not been deployed
    (nor tried and failed), a deploy. Returns (Synced, the deployment or None)."""
    synced = git_sync.sync(source, force)
    source.refresh_from_db()
    deployment = None
    if source.policy == GitSource.DEPLOY and not synced.error:
        now = git_sync.state(source.stack)
        tried = source.stack.deployments.filter(action="deploy", version__commit=source.applied).exclude(
            status="succeeded").exists() and not synced.changed
        if now["ready"] and not tried:
            try:
                deployment = request_operation(source.stack, "deploy", user=user)
            except Busy as exc:  # an operation is running: the next poll or push deploys it
                log.info("Git commit %s of %s not deployed yet: %s", source.applied[:12], source.stack.slug, exc)
    return synced, deployment


@shared_task(ignore_result=True)
def sync_git(stack_id, force=False):
    source = GitSource.objects.select_related("stack").filter(stack_id=stack_id).first()
    if source is not None:
        sync_and_deploy(source, force)


@shared_task(ignore_result=True)
def poll_git():
    """Beat: each Git stack whose poll interval has passed is synced."""
    for source in GitSource.objects.filter(poll_seconds__gt=0):
        if source.due():
            GitSource.objects.filter(pk=source.pk).update(checked=timezone.now())  # not queued twice
            sync_git.delay(source.stack_id)
