"""Celery tasks: thin wrappers that load a row and call one function.

One operation per stack at a time: Stack.request_operation() refuses a second
one, and the worker running it holds the stack's Redis lock (broker.StackLock).
The lifecycle verbs are the models' (claim, finish, fail)."""
import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask

# The Celery app is loaded with the tasks, not at Django start-up (controlpanel/
# __init__), so that commands that queue nothing do not load Celery.
from controlpanel.celery import app as _app  # noqa: F401
from django.utils import timezone

from stacks.models import Busy, Deployment, PlanChanged

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


def workers_alive(timeout=1.0):
    from controlpanel.celery import app

    try:
        return bool(app.control.ping(timeout=timeout, limit=1))  # the first answer is enough
    except Exception:  # noqa: BLE001 — no broker means no worker either
        return False


def run_here(deployment_id):
    """Carry out a queued operation in this process (scripts with no worker running).
    A worker that later receives its message finds it no longer queued and skips it."""
    from django.db import connection

    try:
        run_operation.run(deployment_id)
    finally:
        connection.close()  # this thread's own connection


def _answer(request_id, work, refusals, what):
    """A request asked of a worker and answered through Redis (broker.ask_a_worker):
    work() gives the answer's fields; a refusal (one of `refusals`) is answered in
    its own words, anything else answered and then raised for the worker's log.
    A request its asker took back meanwhile is left alone."""
    from stacks.seams import broker

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
    (stacks.management.operation_client): the operation is recorded and queued here; the
    answer is its number and event stream, or why not."""
    from stacks.models import Stack

    def work():
        deployment = Stack.named(slug).request_operation(action, options=options)
        return {"operation": deployment.pk, "events": deployment.events_stream}

    if action in ("deploy", "down"):  # the two verbs the command line asks for this way
        _answer(request_id, work, (Stack.DoesNotExist, Busy), f"queue the {action}")


@shared_task(ignore_result=True)
def adopt_project(engine_id, project, slug, request_id):
    """Adopt, asked of the worker on the host of an engine (adopt.adopt_anywhere):
    the project's files and the stack's state file are on this host."""
    import json

    from stacks.adoption.adopt import adopt_on
    from stacks.engine import EngineError
    from stacks.models import Engine

    def work():
        stack, problems, kept = adopt_on(Engine.objects.get(pk=engine_id), project, slug)
        return {"slug": stack.slug if stack else "", "problems": json.dumps(problems), "kept": json.dumps(kept)}

    _answer(request_id, work, (ValueError, EngineError), f"adopt {project}")


@shared_task(base=OperationTask, acks_late=True)
def run_operation(deployment_id):
    deployment = Deployment.objects.select_related("stack__engine").get(pk=deployment_id)
    if deployment.claim():  # else already handled (a redelivered message, or a script carried it out)
        execute(deployment)


def execute(deployment):
    """Run one recorded operation, on its stack's engine; its steps and outcome go on its row."""
    from stacks.engine.connect import using

    with using(deployment.stack.engine):
        return _execute(deployment)


def _execute(deployment):
    from stacks.seams import broker
    from stacks.engine.client import EngineError, explain

    stack = deployment.stack
    lock = broker.StackLock(stack.slug)
    try:
        if not lock.acquire():
            raise Busy("Another operation holds this stack.")
        try:
            if deployment.status != Deployment.RUNNING or not deployment.started:
                deployment.status, deployment.started = Deployment.RUNNING, timezone.now()
                deployment.save(update_fields=["status", "started"])
            carry_out(deployment)
        finally:
            lock.release()
    except Exception as exc:  # noqa: BLE001 — every failure is recorded on the row, in plain words
        err = exc if isinstance(exc, (Busy, PlanChanged, broker.BrokerError)) else explain(exc)
        if isinstance(exc, (Busy, PlanChanged, broker.BrokerError, EngineError)):
            log.warning("Operation #%s (%s %s) failed: %s", deployment.pk, deployment.action, stack.slug, err)
        else:  # not one we anticipated: keep the traceback for whoever reads the logs
            log.exception("Operation #%s (%s %s) failed", deployment.pk, deployment.action, stack.slug)
        deployment.fail(err)
        return deployment
    deployment.finish()
    _refresh_health(stack)
    return deployment


def carry_out(deployment):
    """The operation itself, on the engine."""
    from stacks import engine
    from stacks.engine.plan import recorded
    from stacks.render import render_bundle
    from stacks.validation.checks import errors, validate_stack

    stack = deployment.stack
    bundle = None

    def report(message, kind="info"):
        deployment.log(bundle.mask(message) if bundle else message, kind)

    backend = engine.get_backend(stack.engine.backend)
    if deployment.action == "deploy":
        bundle = render_bundle(stack)
        deployment.bundle_hash, deployment.files = bundle.hash, bundle.masked_files()
        deployment.save(update_fields=["bundle_hash", "files"])
        problems = validate_stack(stack, bundle)
        for p in problems:
            report(str(p), "error" if p.severity == "error" else "info")
        if errors(problems):
            raise engine.EngineError(f"The stack has {len(errors(problems))} problem(s); nothing was changed.",
                                     permanent=True)
        report(f"Rendered {len(bundle.files)} files (hash {bundle.hash[:12]})")
        roles = dict(stack.services.values_list("name", "role"))
        desired = engine.Desired.from_bundle(stack.slug, stack.directory, bundle, roles)
        the_plan = backend.plan(desired, backend.observe(desired))
        deployment.take_plan(recorded(the_plan))  # before anything changes; refused if not the confirmed one
        backend.apply(the_plan, report)
        if stack.moved_from_id and stack.moved_from_id != stack.engine_id:
            _leave_old_engine(stack, report)
    elif deployment.action == "stop":
        backend.stop(stack.slug, report)
    elif deployment.action == "down":
        backend.down(stack.slug, report, volumes=bool(deployment.options.get("volumes")))
    elif deployment.action == "restart":
        backend.restart_service(stack.slug, deployment.options.get("service", ""), report)


def _leave_old_engine(stack, report):
    """The second half of a move: the stack runs on its new engine; bring it down
    on the one it left (volumes stay, as with `down`)."""
    from stacks import engine
    from stacks.engine.connect import using
    from stacks.models import Stack

    old = stack.moved_from
    report(f"Moved from engine {old.name}: bringing the stack down there")
    with using(old):
        engine.get_backend(old.backend).down(stack.slug, report)
    Stack.objects.filter(pk=stack.pk).update(moved_from=None)
    stack.moved_from = None


def _refresh_health(stack):
    """Pages show the new state right after an operation, not at the next poll."""
    from stacks.monitoring.health import poll_one

    try:
        poll_one(stack)
    except Exception:  # noqa: BLE001 — the operation succeeded; the poller retries anyway
        log.warning("Health refresh of %s after an operation failed", stack.slug, exc_info=True)


@shared_task
def poll_health():
    """Beat's tick: one poll per engine, on that engine's queue, so each engine is
    polled by a worker that can reach it and a slow engine delays only itself."""
    from stacks.models import Engine

    for engine in Engine.objects.all():  # with no stack yet, it may run projects to adopt
        poll_engine.apply_async((engine.pk,), queue=engine.queue, expires=60)


@shared_task
def poll_engine(engine_id):
    """An engine's stacks' health, and the projects on it that no stack manages."""
    from stacks.monitoring.health import note_unmanaged, poll_all
    from stacks.models import Engine

    engine = Engine.objects.filter(pk=engine_id).first()
    if engine is not None:
        poll_all(engine)
        note_unmanaged(engine)


@shared_task
def refresh_served_queues():
    """Beat: which engine queues have a worker, kept for the overview (3 ticks long,
    so that it never expires between two)."""
    from django.conf import settings

    from stacks.queues import refresh_served_queues as refresh

    refresh(int(3 * settings.PANEL_WORKER_QUEUES_SECONDS))


@shared_task
def announce_engines():
    """Beat: workers started without -Q take up engines that became reachable, or
    were added in the admin, since they started."""
    from stacks.queues import announce_engines as announce

    announce()


@shared_task
def end_resolved_acknowledgements():
    from stacks.alerting.acks import end_resolved

    end_resolved()


@shared_task
def prune_alerts():
    from stacks.alerting.retention import prune

    prune()


# --- Container logs: fetched by the worker, read by the web process ------------
LOG_LINES = 200


def _logs_key(service):
    return f"panel:logs:{service.stack.slug}:{service.name}"


def refresh_logs(service):
    """Ask a worker for fresh lines, at most once every two seconds per service."""
    from stacks.seams import broker

    if broker.set_once(_logs_key(service) + ":asked", 2):
        fetch_logs.apply_async((service.pk,), queue=service.stack.engine.queue)


def cached_logs(service):
    import json

    from stacks.seams import broker

    raw = broker.get(_logs_key(service))
    if not raw:
        return [], None
    data = json.loads(raw)
    return data["lines"], data["fetched"]


@shared_task
def fetch_logs(service_id):
    import json

    from stacks.engine import EngineError, get_backend
    from stacks.engine.connect import using
    from stacks.models import Service

    service = Service.objects.select_related("stack__engine").filter(pk=service_id).first()
    if service is None:
        return
    try:
        with using(service.stack.engine):
            text = get_backend(service.stack.engine.backend).logs(service.stack.slug, service.name, tail=LOG_LINES)
        lines = text.splitlines()[-LOG_LINES:] or ["(no output yet)"]
    except EngineError as exc:
        lines = [f"(logs unavailable: {exc})"]
    from stacks.render import render_bundle

    mask = render_bundle(service.stack).mask
    payload = {"lines": [mask(line) for line in lines], "fetched": timezone.now().isoformat()}
    from stacks.seams import broker

    broker.put(_logs_key(service), json.dumps(payload), 300)


# --- Plans: computed by a worker (it has the engine), read by the web process ---
PLAN_TTL = 600


def plan_key(token):
    return f"panel:plan:{token}"


@shared_task
def compute_plan(stack_id, token):
    """Render, validate and plan a stack against the engine; the result waits in
    Redis for the page that asked."""
    import json

    from stacks.seams import broker
    from stacks.engine.client import explain
    from stacks.engine.plan import recorded
    from stacks.models import Stack

    stack = Stack.objects.filter(pk=stack_id).first()
    if stack is None:
        return
    try:
        bundle, problems, plan = stack.plan_deploy()
        payload = {"bundle_hash": bundle.hash, "problems": [str(p) for p in problems],
                   "plan": recorded(plan) if plan else None}
    except Exception as exc:  # noqa: BLE001 — shown on the page in plain words
        log.warning("Plan of %s failed: %s", stack.slug, exc)
        payload = {"error": str(explain(exc))}
    broker.put(plan_key(token), json.dumps(payload), PLAN_TTL)
