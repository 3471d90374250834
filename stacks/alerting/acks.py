"""Acknowledge until resolved: an acknowledgement is a silence on the alert's
labels in its Alertmanager, recorded with who and why, which the panel expires
as soon as the alert resolves.

Alertmanager mutes a silenced alert's resolved notification too, so the panel
cannot wait for the webhook to say `resolved`: it watches Alertmanager's list of
active alerts (`end_resolved`, run by beat) and expires the silence when the
alert has left it, or when the panel already holds it as resolved. Alertmanager
then sends the resolved notification it held back.

The same look resolves any firing alert its Alertmanager no longer holds
(`resolve_gone`), so a page says "resolved" within one round of beat, not when
the webhook's resolved notification comes (group_interval later, or never for
a silenced one); that notification then only corrects the time."""
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from stacks.accounts import audit
from stacks.models import Alert, Event, ServiceHealth
from stacks.notifications import events
from stacks.seams import live
from stacks.seams.alertmanager import Alertmanager, AlertmanagerError

log = logging.getLogger(__name__)


def alertmanager_for(alert):
    """The Alertmanager of the alert's stack (or of any stack that runs one), at
    the address the health poller found a container the panel deployed for it
    publishing (ServiceHealth.endpoint): never an address from the rows."""
    found = list(ServiceHealth.objects.filter(service__role="alertmanager", state="running").exclude(endpoint="")
                 .order_by("service__stack__slug", "service__order", "service__name")
                 .values_list("service__stack_id", "endpoint"))
    found.sort(key=lambda f: f[0] != alert.stack_id)  # its own stack's first (a stable sort keeps the order)
    return Alertmanager(found[0][1]) if found else None


def silence_matches(silence, labels):
    """Whether an Alertmanager silence (made anywhere) mutes an alert with these
    labels: equality, negation and regex matchers, regexes anchored as Alertmanager's."""
    for m in silence.get("matchers", []):
        value = labels.get(m["name"], "")
        if m.get("isRegex"):
            try:
                hit = re.fullmatch(m["value"], value) is not None
            except re.error:  # Go syntax Python does not read: say it does not match
                return False
        else:
            hit = value == m["value"]
        if hit != m.get("isEqual", True):
            return False
    return True


def acknowledge(alert, user, comment):
    """Record who is on it and why, and silence the alert until it resolves.
    Acknowledged already: the reason is replaced (who acknowledged stays).
    Returns the silence id ("" when there is nothing to silence); raises
    AlertmanagerError when the silence could not be made (the acknowledgement
    stays recorded)."""
    now = timezone.now()
    comment = comment[:500]
    claimed = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_by=user, acknowledged_at=now, ack_comment=comment)
    if not claimed:
        Alert.objects.filter(pk=alert.pk).update(ack_comment=comment)
    alert.refresh_from_db()
    audit.record("acknowledge" if claimed else "acknowledge reason", f"alert {alert.name} #{alert.pk}",
                 user=user, detail=comment)
    if claimed:
        # The chat that saw the alert sees who took it.
        events.record(alert.stack, Event.ACKNOWLEDGED, f"{alert.name} acknowledged by {user.get_username()}",
                      service=alert.service.name if alert.service_id and alert.service else "",
                      detail=comment, by=user.get_username())
    live.publish("alerts")
    if not claimed or alert.status != "firing":
        return ""
    am = alertmanager_for(alert)
    if am is None:
        return ""
    ends = now + timedelta(hours=settings.ACK_SILENCE_HOURS)
    text = f"Acknowledged in the panel until {alert.name} resolves" + (f": {comment}" if comment else "")
    silence_id = am.create_silence(alert.labels, ends - now, user.get_username(), text)
    Alert.objects.filter(pk=alert.pk).update(silence_id=silence_id, silence_ends_at=ends)
    alert.silence_id, alert.silence_ends_at = silence_id, ends
    return silence_id


class _Active:
    """The fingerprints each Alertmanager holds as active, asked once per round
    (None: it did not answer; the next round asks again)."""

    def __init__(self):
        self.by_am, self.am_of_stack = {}, {}

    def __call__(self, am):
        if am.base not in self.by_am:
            try:
                self.by_am[am.base] = {a["fingerprint"] for a in am.alerts()}
            except AlertmanagerError as exc:
                log.warning("Could not ask %s for its active alerts: %s", am.base, exc)
                self.by_am[am.base] = None
        return self.by_am[am.base]

    def alertmanager_for(self, alert):
        if alert.stack_id not in self.am_of_stack:
            self.am_of_stack[alert.stack_id] = alertmanager_for(alert)
        return self.am_of_stack[alert.stack_id]


def resolve_gone(active=None):
    """Firing alerts of a stack whose Alertmanager no longer holds them become
    resolved now. Returns them. An alert with no stack is left to the webhook:
    which Alertmanager sent it is not known."""
    active, now, gone = active or _Active(), timezone.now(), []
    for alert in Alert.objects.filter(status="firing", stack__isnull=False).select_related("stack"):
        am = active.alertmanager_for(alert)
        held = active(am) if am is not None else None
        if held is None or alert.fingerprint in held:
            continue
        if Alert.objects.filter(pk=alert.pk, status="firing").update(status="resolved", resolved_at=now, ends_at=now):
            alert.status, alert.resolved_at = "resolved", now
            gone.append(alert)
    return gone


def end_resolved():
    """Resolve the alerts their Alertmanager has dropped, and expire the
    silences of acknowledged alerts that have resolved. One call to each
    Alertmanager; returns the alerts whose silence was expired."""
    active = _Active()
    gone = resolve_gone(active)
    open_acks = list(Alert.objects.exclude(silence_id="").filter(silence_expired_at__isnull=True)
                     .filter(Q(silence_ends_at__isnull=True) | Q(silence_ends_at__gt=timezone.now())))
    ended = []
    for alert in open_acks:
        am = active.alertmanager_for(alert)
        if am is None:
            continue
        try:
            if alert.status != "resolved":
                held = active(am)
                if held is None or alert.fingerprint in held:
                    continue
            _expire(am, alert.silence_id)
        except AlertmanagerError as exc:
            log.warning("Could not end the acknowledgement of alert %s: %s", alert.pk, exc)
            continue  # try again at the next round
        Alert.objects.filter(pk=alert.pk).update(silence_expired_at=timezone.now())
        ended.append(alert)
    if gone or ended:
        slugs = {a.stack.slug for a in gone if a.stack_id}
        live.publish("alerts", *(t for slug in sorted(slugs) for t in live.stack_topics(slug)))
    return ended


def _expire(am, silence_id):
    try:
        am.expire(silence_id)
    except AlertmanagerError:
        # Someone may have expired it in Alertmanager already: then it is done.
        if am.silence(silence_id)["status"]["state"] != "expired":
            raise
