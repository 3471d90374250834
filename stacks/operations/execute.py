"""Carrying out a recorded operation: on its stack's engine, under the stack's
Redis lock, its verb's steps and outcome written on its row."""
import logging

from django.utils import timezone

from stacks.engine.backend import get_backend
from stacks.engine.client import explain
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.models import Busy, Deployment, PlanChanged
from stacks.monitoring.health import poll_one
from stacks.notifications import drift, events
from stacks.operations.removal import forget_stack
from stacks.operations.verbs import named
from stacks.seams import broker

log = logging.getLogger(__name__)


class Report:
    """A verb's `report(message, kind)`: a step on its operation, with the secret
    values of the bundle being deployed masked once the verb has one (mask)."""

    def __init__(self, deployment):
        self.deployment, self.mask = deployment, None

    def __call__(self, message, kind="info"):
        self.deployment.log(self.mask(message) if self.mask else message, kind)


def execute(deployment):
    """Run one recorded operation, on its stack's engine; its steps and outcome go on its row."""
    with using(deployment.stack.engine):
        return _execute(deployment)


def _execute(deployment):
    stack = deployment.stack
    lock = broker.StackLock(stack.slug)
    try:
        if not lock.acquire():
            raise Busy("Another operation holds this stack.")
        try:
            if deployment.status != Deployment.RUNNING or not deployment.started:
                deployment.status, deployment.started = Deployment.RUNNING, timezone.now()
                deployment.save(update_fields=["status", "started"])
            named(deployment.action).run(deployment, get_backend(stack.engine.backend), Report(deployment))
        finally:
            lock.release()
    except Exception as exc:  # noqa: BLE001 — every failure is recorded on the row, in plain words
        err = exc if isinstance(exc, (Busy, PlanChanged, broker.BrokerError)) else explain(exc)
        if isinstance(exc, (Busy, PlanChanged, broker.BrokerError, EngineError)):
            log.warning("Operation #%s (%s %s) failed: %s", deployment.pk, deployment.action, stack.slug, err)
        else:  # not one we anticipated: keep the traceback for whoever reads the logs
            log.exception("Operation #%s (%s %s) failed", deployment.pk, deployment.action, stack.slug)
        deployment.fail(err)
        _tell(deployment)
        return deployment
    if named(deployment.action).removes_stack:
        # Its own row goes with the stack: a follower sees it gone only once
        # everything is (the row is never left saying "succeeded" before that).
        forget_stack(stack, deployment)
        deployment.status = Deployment.SUCCEEDED
        broker.notify(deployment.pk, deployment.events_stream, status=Deployment.SUCCEEDED)
        return deployment
    deployment.finish()
    _refresh_health(stack)
    _tell(deployment)
    return deployment


def _tell(deployment):
    """The deploy's outcome as events (a failure until the next success), and
    whether changes still wait for a deploy."""
    try:
        events.deploy_outcome(deployment)
        if deployment.action == "deploy" and deployment.finished_ok:
            drift.deployed(deployment)
    except Exception:  # noqa: BLE001 — the operation's outcome stands; the watch records it again
        log.exception("Recording the events of operation #%s failed", deployment.pk)


def _refresh_health(stack):
    """Pages show the new state right after an operation, not at the next poll."""
    try:
        poll_one(stack)
    except Exception:  # noqa: BLE001 — the operation succeeded; the poller retries anyway
        log.warning("Health refresh of %s after an operation failed", stack.slug, exc_info=True)
