"""Recording events: a condition is opened once and closed once (an open one of
the same stack, kind and service is not opened again); a one-off is recorded
ended. Each opening and closing queues its deliveries (EventDelivery rows, sent
by deliver.deliver_due)."""
import logging

from django.db import transaction
from django.utils import timezone

from stacks.models import Destination, Event, EventDelivery, Service

log = logging.getLogger(__name__)


def open_event(stack, kind, title, service="", detail="", by="", data=None):
    """(event, opened): the open event of this kind, or a new one."""
    with transaction.atomic():
        existing = (Event.objects.select_for_update().filter(stack=stack, kind=kind, service=service,
                                                             condition=True, ended__isnull=True).first())
        if existing is not None:
            return existing, False
        event = Event.objects.create(stack=stack, kind=kind, title=title[:300], service=service, detail=detail,
                                     by=by, data=data or {})
        queue(event)
    log.info("Event opened: %s", event.title)
    return event, True


def close_event(stack, kind, service="", detail=""):
    """End the open event of this kind (its end is delivered too); None when none is open."""
    with transaction.atomic():
        event = (Event.objects.select_for_update().filter(stack=stack, kind=kind, service=service,
                                                          condition=True, ended__isnull=True).first())
        if event is None:
            return None
        event.ended = timezone.now()
        if detail:
            event.data = {**event.data, "end": detail}
        event.save(update_fields=["ended", "data"])
        queue(event, resolved=True)
    log.info("Event ended: %s", event.title)
    return event


def record(stack, kind, title, service="", detail="", by=""):
    """A one-off event (a failed deploy is a condition; an acknowledgement is not)."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(stack=stack, kind=kind, title=title[:300], service=service, detail=detail,
                                     by=by, condition=False, started=now, ended=now)
        queue(event)
    return event


def open_of(stack, kind=None):
    found = Event.objects.filter(stack=stack, condition=True, ended__isnull=True)
    return found.filter(kind=kind) if kind else found


def has_alertmanager(stack):
    return stack is not None and Service.objects.filter(stack=stack, role="alertmanager").exists()


def queue(event, resolved=False):
    """Deliveries of the event (or of its end): the stack's Alertmanager, and each
    destination that wants it. Notification URLs hear of an end only for a condition."""
    if event.kind in Event.NEVER_SENT:
        return []
    rows = []
    if event.kind in Event.BY_DEFAULT and has_alertmanager(event.stack):
        rows.append(EventDelivery(event=event, resolved=resolved))
    if not resolved or event.condition:
        for dest in Destination.objects.filter(enabled=True):
            if dest.wants(event):
                rows.append(EventDelivery(event=event, destination=dest, resolved=resolved))
    return EventDelivery.objects.bulk_create(rows)


def deploy_outcome(deployment):
    """After a deploy: a failure is a condition until a deploy of the stack succeeds."""
    stack, by = deployment.stack, str(deployment.requested_by or "script")
    if deployment.action != "deploy":
        return
    if deployment.status == deployment.FAILED:
        event, opened = open_event(stack, Event.DEPLOY_FAILED, f"Deploy #{deployment.pk} of {stack.slug} failed",
                                   detail=deployment.error[:2000], by=by, data={"deployment": deployment.pk})
        if not opened:  # still failing: the same condition, the latest reason
            event.detail, event.data = deployment.error[:2000], {**event.data, "deployment": deployment.pk}
            event.save(update_fields=["detail", "data"])
    elif deployment.status == deployment.SUCCEEDED:
        close_event(stack, Event.DEPLOY_FAILED, detail=f"Deploy #{deployment.pk} succeeded")
        record(stack, Event.DEPLOY_SUCCEEDED, f"Deploy #{deployment.pk} of {stack.slug} succeeded", by=by)
