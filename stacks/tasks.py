"""Celery tasks: thin wrappers that load a row and call one function.

One operation per stack at a time: a Redis lock held (and refreshed) by the
worker running it. A running operation whose lock is gone belonged to a worker
that died; it is marked failed so that the next deploy can converge."""
import logging
import threading

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import audit
from .models import Deployment, Stack

log = logging.getLogger(__name__)
LOCK_TTL = 15  # seconds; refreshed every LOCK_TTL / 3 while an operation runs


class Busy(ValueError):
    pass


def _redis():
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)


def _lock_key(stack_slug):
    return f"panel:stack-lock:{stack_slug}"


def request_operation(stack, action, user=None, options=None):
    """Record an operation and queue it. Raises Busy when one is under way."""
    with transaction.atomic():
        Stack.objects.select_for_update().filter(pk=stack.pk).first()
        active = Deployment.objects.filter(stack=stack, status__in=[Deployment.QUEUED, Deployment.RUNNING]).first()
        if active is not None:
            holder = _lock_holder(stack.slug)
            if active.status == Deployment.RUNNING and holder is None:
                active.status, active.finished = Deployment.FAILED, timezone.now()
                active.error = "The worker running this operation stopped before it finished."
                active.save(update_fields=["status", "finished", "error"])
                active.log(active.error, "error")
            else:
                raise Busy(f"{active.action} of {stack.slug} (#{active.pk}) is {active.status}; "
                           "wait for it to finish.")
        deployment = Deployment.objects.create(stack=stack, action=action, requested_by=user, options=options or {})
        audit.record(action, f"stack {stack.slug}", user=user, detail=f"operation #{deployment.pk} {options or ''}")
        transaction.on_commit(lambda: _enqueue(deployment))
    return deployment


def _enqueue(deployment):
    try:
        run_operation.delay(deployment.pk)
    except Exception as exc:  # noqa: BLE001 — the broker is down: say so on the row
        log.warning("Could not queue operation #%s: %s", deployment.pk, exc)
        Deployment.objects.filter(pk=deployment.pk, status=Deployment.QUEUED).update(
            status=Deployment.FAILED, finished=timezone.now(),
            error=f"The task queue (Redis) is unreachable, so the operation was not started: {exc}")


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
        if _claim(deployment_id):
            execute(Deployment.objects.select_related("stack").get(pk=deployment_id))
    finally:
        connection.close()  # this thread's own connection


def _claim(deployment_id):
    """queued → running, once: whoever flips it carries the operation out."""
    return Deployment.objects.filter(pk=deployment_id, status=Deployment.QUEUED).update(
        status=Deployment.RUNNING, started=timezone.now()) == 1


def _lock_holder(slug):
    try:
        value = _redis().get(_lock_key(slug))
    except redis.RedisError as exc:
        raise Busy(f"Redis is unreachable, so operations cannot be queued: {exc}") from None
    return int(value) if value else None


class _Lock:
    def __init__(self, slug, deployment_id):
        self.r, self.key, self.value = _redis(), _lock_key(slug), str(deployment_id)
        self.stop = threading.Event()

    def __enter__(self):
        if not self.r.set(self.key, self.value, nx=True, ex=LOCK_TTL):
            if (self.r.get(self.key) or b"").decode() != self.value:
                raise Busy("Another operation holds this stack.")
        threading.Thread(target=self._refresh, daemon=True).start()
        return self

    def _refresh(self):
        while not self.stop.wait(LOCK_TTL / 3):
            self.r.expire(self.key, LOCK_TTL)

    def __exit__(self, *exc):
        self.stop.set()
        if (self.r.get(self.key) or b"").decode() == self.value:
            self.r.delete(self.key)


@shared_task(acks_late=True)
def run_operation(deployment_id):
    if not _claim(deployment_id):
        return  # already handled (a redelivered message, or a script carried it out)
    execute(Deployment.objects.select_related("stack").get(pk=deployment_id))


def execute(deployment):
    """Run one recorded operation; its steps and outcome go on its row."""
    from . import engine
    from .render import render_bundle
    from .validate import errors, validate_stack

    stack = deployment.stack
    try:
        with _Lock(stack.slug, deployment.pk):
            deployment.status, deployment.started = Deployment.RUNNING, timezone.now()
            deployment.save(update_fields=["status", "started"])
            bundle = None

            def report(message, kind="info"):
                deployment.log(bundle.mask(message) if bundle else message, kind)

            if deployment.action == "deploy":
                bundle = render_bundle(stack)
                deployment.bundle_hash, deployment.files = bundle.hash, bundle.masked_files()
                deployment.save(update_fields=["bundle_hash", "files"])
                problems = validate_stack(stack, bundle)
                for p in problems:
                    report(str(p), "error" if p.severity == "error" else "info")
                if errors(problems):
                    raise engine.EngineError(f"The stack has {len(errors(problems))} problem(s); nothing was changed.")
                report(f"Rendered {len(bundle.files)} files (hash {bundle.hash[:12]})")
                roles = dict(stack.services.values_list("name", "role"))
                engine.deploy(stack.slug, stack.directory, bundle, roles, report)
            elif deployment.action == "stop":
                engine.stop(stack.slug, report)
            elif deployment.action == "down":
                engine.down(stack.slug, report, volumes=bool(deployment.options.get("volumes")))
            elif deployment.action == "restart":
                engine.restart_service(stack.slug, deployment.options.get("service", ""), report)
            deployment.status = Deployment.SUCCEEDED
            report(f"{deployment.action.capitalize()} finished")
            _refresh_health(stack)
    except Exception as exc:  # noqa: BLE001 — every failure is recorded on the row, in plain words
        from .engine.client import EngineError, explain

        err = exc if isinstance(exc, Busy) else explain(exc)
        if isinstance(exc, (Busy, EngineError)):
            log.warning("Operation #%s (%s %s) failed: %s", deployment.pk, deployment.action, stack.slug, err)
        else:  # not one we anticipated: keep the traceback for whoever reads the logs
            log.exception("Operation #%s (%s %s) failed", deployment.pk, deployment.action, stack.slug)
        deployment.status, deployment.error = Deployment.FAILED, str(err)
        deployment.log(str(err), "error")
    deployment.finished = timezone.now()
    deployment.save(update_fields=["status", "error", "finished"])
    return deployment


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
    if _redis().set(_logs_key(service) + ":asked", 1, nx=True, ex=2):
        fetch_logs.delay(service.pk)


def cached_logs(service):
    import json

    raw = _redis().get(_logs_key(service))
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
    _redis().set(_logs_key(service), json.dumps(payload), ex=300)
