"""Beat's round over one engine's stacks: the alert path, drift, services
unhealthy longer than their grace, held alerts due for release, and open events
re-posted to Alertmanager before their endsAt runs out."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from stacks.models import Deployment, Event, EventDelivery, ServiceHealth
from stacks.notifications import drift, events, holds, path
from stacks.notifications.deliver import OPEN_FOR

log = logging.getLogger(__name__)


def watch_engine(engine):
    for stack in engine.stacks.all():
        watch_stack(stack)


def watch_stack(stack):
    for check in (path.check, drift.check, unhealthy, holds.release_due, repost_open):
        try:
            check(stack)
        except Exception:  # noqa: BLE001 — one check failing must not stop the others; logged with its trace
            log.exception("Watching %s: %s failed", stack.slug, check.__name__)


def unhealthy(stack, now=None):
    """A service unhealthy for longer than PANEL_UNHEALTHY_GRACE_SECONDS opens an
    event; healthy again closes it. Not while the stack is stopped or down."""
    now = now or timezone.now()
    last = stack.deployments.filter(status=Deployment.SUCCEEDED).order_by("-id").first()
    down = last is None or last.action in ("stop", "down")
    grace = timedelta(seconds=settings.PANEL_UNHEALTHY_GRACE_SECONDS)
    for h in ServiceHealth.objects.filter(service__stack=stack).select_related("service"):
        name = h.service.name
        if not down and not h.healthy and now - h.changed > grace:
            events.open_event(stack, Event.UNHEALTHY, f"{name} of {stack.slug} unhealthy",
                              service=name, detail=f"{h.state} {h.docker_health} {h.probe_detail}".strip())
        elif h.healthy or down:
            events.close_event(stack, Event.UNHEALTHY, service=name, detail="healthy again" if h.healthy else "")


def repost_open(stack, now=None):
    """An open event's alert ends after OPEN_FOR unless posted again: post it at half that."""
    now = now or timezone.now()
    if not events.has_alertmanager(stack):
        return
    for event in events.open_of(stack).filter(kind__in=Event.BY_DEFAULT):
        last = event.deliveries.filter(destination__isnull=True).order_by("-id").first()
        if last is not None and last.status != EventDelivery.PENDING and now - last.created > OPEN_FOR / 2:
            EventDelivery.objects.create(event=event)
