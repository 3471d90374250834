"""Sending events: each due EventDelivery once (claimed by moving its next try),
to the stack's Alertmanager (an alert with `stack`, `service` and `event`
labels, resolved by its endsAt) or to a notification URL (Apprise). A failure
is retried with backoff (10 s, doubling, at most an hour apart) up to
PANEL_DELIVERY_ATTEMPTS times; each destination keeps its last outcome."""
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from stacks.lib.errors import SeamError
from stacks.models import Destination, EventDelivery, ServiceHealth
from stacks.seams import notify
from stacks.seams.alertmanager import Alertmanager

log = logging.getLogger(__name__)

CLAIM = timedelta(minutes=5)  # a sender that dies mid-way leaves the row due again after this
OPEN_FOR = timedelta(hours=1)  # an open event's endsAt in Alertmanager; watch re-posts it before
KINDS = {"deploy-failed": "failure", "unhealthy": "failure", "alert-path": "failure", "drift": "warning",
         "not-deployed": "warning", "image-update": "info", "acknowledged": "info", "deploy-succeeded": "success"}


def deployed_endpoint(stack, role):
    """Where the health poller last found a container the panel deployed for the
    stack's service of this role publishing its UI (ServiceHealth.endpoint): the
    panel never calls an address taken from the rows. None when there is none."""
    return (ServiceHealth.objects.filter(service__stack=stack, service__role=role, state="running")
            .exclude(endpoint="").order_by("service__order", "service__name")
            .values_list("endpoint", flat=True).first())


def alertmanager_of(stack):
    """The stack's Alertmanager as the panel deployed it; None without one."""
    endpoint = deployed_endpoint(stack, "alertmanager")
    return Alertmanager(endpoint) if endpoint else None


def stack_url(stack):
    return settings.PANEL_URL_FOR_STACKS.rstrip("/") + reverse("stack-detail", args=[stack.slug]) if stack else ""


def as_alert(event, resolved, now=None):
    now = now or timezone.now()
    if resolved or not event.is_open:
        ends = event.ended if event.condition else (event.started + timedelta(minutes=10))
    else:
        ends = now + OPEN_FOR
    annotations = {"summary": event.title}
    if event.detail:
        annotations["description"] = event.detail[:2000]
    if event.by:
        annotations["by"] = event.by
    return {"labels": event.labels, "annotations": annotations, "startsAt": event.started.isoformat(),
            "endsAt": ends.isoformat(), "generatorURL": stack_url(event.stack)}


def message(event, resolved):
    where = f"stack {event.stack.slug}" if event.stack else "the panel"
    if event.service:
        where += f", service {event.service}"
    if resolved:
        end = event.data.get("end", "")
        return f"Ended: {event.title}", f"{where}: ended{': ' + end if end else ''}.", "success"
    body = f"{where}: {event.detail}" if event.detail else where
    if event.by:
        body += f" (by {event.by})"
    return event.title, body, KINDS.get(event.kind, "info")


def send(delivery):
    event = delivery.event
    if delivery.destination_id is None:
        am = alertmanager_of(event.stack)
        if am is None:
            # Not deployed or not running now: it may be soon (a deploy under way), so try again later.
            raise SeamError("No Alertmanager that the panel deployed for this stack is running.")
        am.post_alerts([as_alert(event, delivery.resolved)])
    else:
        title, body, kind = message(event, delivery.resolved)
        notify.send(delivery.destination.url, title, body, kind)


def backoff(attempts):
    return timedelta(seconds=min(3600, 10 * 2 ** max(0, attempts - 1)))


def attempt(delivery, now=None):
    now = now or timezone.now()
    delivery.attempts += 1
    try:
        send(delivery)
    except SeamError as exc:
        final = exc.permanent or delivery.attempts >= settings.PANEL_DELIVERY_ATTEMPTS
        delivery.error = str(exc)[:2000]
        delivery.status = EventDelivery.FAILED if final else EventDelivery.PENDING
        delivery.next_try = now + backoff(delivery.attempts)
        log.warning("Delivery of %r to %s failed (attempt %d%s): %s", delivery.event.title, delivery.target,
                    delivery.attempts, ", giving up" if final else "", exc)
        ok = False
    else:
        delivery.status, delivery.sent, delivery.error = EventDelivery.SENT, now, ""
        ok = True
    delivery.save(update_fields=["attempts", "error", "status", "next_try", "sent"])
    if delivery.destination_id:
        fields = {"last_attempt": now, "last_ok": ok, "last_error": "" if ok else delivery.error}
        if ok:
            fields["last_sent"] = now
        Destination.objects.filter(pk=delivery.destination_id).update(**fields)
    return ok


def deliver_due(limit=100):
    """Send what is due now; returns how many were sent."""
    now = timezone.now()
    sent = 0
    due = (EventDelivery.objects.filter(status=EventDelivery.PENDING, next_try__lte=now)
           .order_by("next_try", "id").values_list("id", flat=True)[:limit])
    for pk in list(due):
        # Claimed by whoever moves its next try first: two beat ticks never send one twice.
        if EventDelivery.objects.filter(Q(pk=pk), status=EventDelivery.PENDING, next_try__lte=now).update(
                next_try=now + CLAIM) != 1:
            continue
        delivery = EventDelivery.objects.select_related("event__stack", "destination").get(pk=pk)
        sent += attempt(delivery, now)
    return sent


def last_deliveries(stack, limit=10):
    return (EventDelivery.objects.filter(event__stack=stack).select_related("event", "destination")
            .order_by("-id")[:limit])
