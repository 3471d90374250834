"""Alerts held during deploys: before a deploy stops or recreates services (its
plan says which), their alerts (`stack` and `service` matchers) are silenced in
the stack's Alertmanager; the silence is expired once those services have been
healthy for PANEL_HOLD_SETTLE_SECONDS after the deploy, or at the latest after
PANEL_HOLD_GRACE_SECONDS. Both ends are on the stack's timeline (an
"alerts-held" event). Off per stack: Stack.hold_alerts."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from stacks.models import Deployment, Event, ServiceHealth
from stacks.notifications import events
from stacks.notifications.deliver import alertmanager_of
from stacks.seams.alertmanager import AlertmanagerError

log = logging.getLogger(__name__)
AUTHOR = "control panel"


def hold(deployment, services, report):
    """Silence the alerts of `services` of the deployment's stack; returns the
    event recording it (None when nothing is held). Never fails the deploy."""
    stack = deployment.stack
    if not services or not stack.hold_alerts:
        return None
    am = alertmanager_of(stack)
    if am is None:
        return None
    previous = events.open_of(stack, Event.ALERTS_HELD).first()
    if previous is not None:  # an earlier deploy's hold: this one takes over
        release(previous, "a new deploy holds them again")
    grace = timedelta(seconds=settings.PANEL_HOLD_GRACE_SECONDS)
    silences = {}
    for name in services:
        try:
            silences[name] = am.create_silence({"stack": stack.slug, "service": name}, grace, AUTHOR,
                                               f"Held during deploy #{deployment.pk}: it stops or recreates {name}")
        except AlertmanagerError as exc:  # one answer is enough: the deploy does not wait on the others
            report(f"Alerts of {', '.join(s for s in services if s not in silences)} not held: {exc}", "info")
            break
    if not silences:
        return None
    names = ", ".join(sorted(silences))
    report(f"Held alerts of {names} in Alertmanager until healthy again")
    event, _ = events.open_event(stack, Event.ALERTS_HELD, f"Alerts of {names} held during deploy #{deployment.pk}",
                                 data={"deployment": deployment.pk, "silences": silences})
    return event


def release(event, why):
    am = alertmanager_of(event.stack)
    for name, silence_id in event.data.get("silences", {}).items():
        try:
            if am is not None:
                _expire(am, silence_id)
        except AlertmanagerError as exc:  # unreachable: try again at the next tick
            log.warning("Could not end the hold of %s on %s: %s", name, event.stack.slug, exc)
            return False
    events.close_event(event.stack, Event.ALERTS_HELD, detail=why)
    return True


def release_due(stack, now=None):
    """End the stack's hold once its services are healthy again (or after the grace)."""
    now = now or timezone.now()
    event = events.open_of(stack, Event.ALERTS_HELD).first()
    if event is None:
        return None
    deployment = Deployment.objects.filter(pk=event.data.get("deployment")).first()
    names = sorted(event.data.get("silences", {}))
    if deployment is None or now >= event.started + timedelta(seconds=settings.PANEL_HOLD_GRACE_SECONDS):
        return release(event, "the grace ended") and event
    _hold_again_if_forgotten(event, now)
    if not deployment.is_done or now < deployment.finished + timedelta(seconds=settings.PANEL_HOLD_SETTLE_SECONDS):
        return None
    health = {h.service.name: h for h in ServiceHealth.objects.filter(service__stack=stack, service__name__in=names)
              .select_related("service")}
    if all(n in health and health[n].healthy and health[n].checked >= deployment.finished for n in names):
        return release(event, f"{', '.join(names)} healthy again") and event
    return None


def _hold_again_if_forgotten(event, now):
    """An Alertmanager restarted or recreated without its data (no volume, or
    killed before it wrote its snapshot) no longer knows the hold's silences:
    set them again for the rest of the grace. A silence it still lists as
    expired was ended on purpose (by hand) and stays ended."""
    am = alertmanager_of(event.stack)
    silences = event.data.get("silences", {})
    if am is None or not silences:
        return
    left = event.started + timedelta(seconds=settings.PANEL_HOLD_GRACE_SECONDS) - now
    try:
        known = {s.get("id") for s in am.silences(active_only=False)}
        forgotten = [name for name, silence_id in silences.items() if silence_id not in known]
        for name in forgotten:
            silences[name] = am.create_silence({"stack": event.stack.slug, "service": name}, left, AUTHOR,
                                               f"{event.title}: set again, Alertmanager had forgotten it")
    except AlertmanagerError as exc:  # not answering yet (starting): the next tick tries again
        log.info("Could not check the hold on %s: %s", event.stack.slug, exc)
        return
    if forgotten:
        log.warning("Alertmanager of %s had forgotten the hold of %s: set again", event.stack.slug,
                    ", ".join(forgotten))
        event.data["silences"] = silences
        type(event).objects.filter(pk=event.pk).update(data=event.data)


def _expire(am, silence_id):
    try:
        am.expire(silence_id)
    except AlertmanagerError:
        # Expired already (by hand, or it ran out), or gone with a recreated Alertmanager: done.
        try:
            state = am.silence(silence_id)["status"]["state"]
        except AlertmanagerError as exc:
            if exc.permanent:
                return
            raise
        if state != "expired":
            raise
