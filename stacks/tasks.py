"""Celery tasks: thin wrappers that load a row and call one function.

One operation per stack at a time: Stack.request_operation() refuses a second
one, and the worker running it holds the stack's Redis lock (broker.StackLock).
The lifecycle verbs are the models' (claim, finish, fail)."""
import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from .models import Busy, Deployment

log = logging.getLogger(__name__)


class OperationTask(DjangoTask):
    """delay_on_commit's delay: a broker that is down is said on the row, not lost."""

    def delay(self, deployment_id):
        try:
            return super().delay(deployment_id)
        except Exception as exc:  # noqa: BLE001 — the broker is down: say so on the row
            log.warning("Could not queue operation #%s: %s", deployment_id, exc)
            d = Deployment.objects.filter(pk=deployment_id, status=Deployment.QUEUED).first()
            if d is not None:
                d.fail(f"The task queue (Redis) is unreachable, so the operation was not started: {exc}")


def workers_alive(timeout=1.0):
    from controlpanel.celery import app

    try:
        return bool(app.control.ping(timeout=timeout))
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


@shared_task(base=OperationTask, acks_late=True)
def run_operation(deployment_id):
    deployment = Deployment.objects.select_related("stack").get(pk=deployment_id)
    if deployment.claim():  # else already handled (a redelivered message, or a script carried it out)
        execute(deployment)


def execute(deployment):
    """Run one recorded operation; its steps and outcome go on its row."""
    from . import broker
    from .engine.client import EngineError, explain

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
        err = exc if isinstance(exc, (Busy, broker.BrokerError)) else explain(exc)
        if isinstance(exc, (Busy, broker.BrokerError, EngineError)):
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
    from . import engine
    from .render import render_bundle
    from .validate import errors, validate_stack

    stack = deployment.stack
    bundle = None

    def report(message, kind="info"):
        deployment.log(bundle.mask(message) if bundle else message, kind)

    backend = engine.get_backend()
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
        engine.deploy(stack.slug, stack.directory, bundle, roles, report)
    elif deployment.action == "stop":
        backend.stop(stack.slug, report)
    elif deployment.action == "down":
        backend.down(stack.slug, report, volumes=bool(deployment.options.get("volumes")))
    elif deployment.action == "restart":
        backend.restart_service(stack.slug, deployment.options.get("service", ""), report)


def _refresh_health(stack):
    """Pages show the new state right after an operation, not at the next poll."""
    from .health import poll_one

    try:
        poll_one(stack)
    except Exception:  # noqa: BLE001 — the operation succeeded; the poller retries anyway
        log.warning("Health refresh of %s after an operation failed", stack.slug, exc_info=True)


@shared_task
def poll_health():
    from .health import poll_all

    poll_all()


@shared_task
def prune_alerts():
    from .alerting.retention import prune

    prune()


# --- Container logs: fetched by the worker, read by the web process ------------
LOG_LINES = 200


def _logs_key(service):
    return f"panel:logs:{service.stack.slug}:{service.name}"


def refresh_logs(service):
    """Ask a worker for fresh lines, at most once every two seconds per service."""
    from . import broker

    if broker.set_once(_logs_key(service) + ":asked", 2):
        fetch_logs.delay(service.pk)


def cached_logs(service):
    import json

    from . import broker

    raw = broker.get(_logs_key(service))
    if not raw:
        return [], None
    data = json.loads(raw)
    return data["lines"], data["fetched"]


@shared_task
def fetch_logs(service_id):
    import json

    from .engine import EngineError, container_logs
    from .models import Service

    service = Service.objects.select_related("stack").filter(pk=service_id).first()
    if service is None:
        return
    try:
        text = container_logs(service.stack.slug, service.name, tail=LOG_LINES)
        lines = text.splitlines()[-LOG_LINES:] or ["(no output yet)"]
    except EngineError as exc:
        lines = [f"(logs unavailable: {exc})"]
    from .render import render_bundle

    mask = render_bundle(service.stack).mask
    payload = {"lines": [mask(line) for line in lines], "fetched": timezone.now().isoformat()}
    from . import broker

    broker.put(_logs_key(service), json.dumps(payload), 300)
