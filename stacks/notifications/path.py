"""The alert path, watched end to end, for each stack whose Prometheus and
Alertmanager the panel deployed with its heartbeat (render.HEARTBEAT_FILE):

- the heartbeat (an always-firing rule routed to the panel) keeps arriving;
- Prometheus still has an Alertmanager, and its notification errors, dropped
  notifications and rule evaluation failures do not grow between two checks;
- Alertmanager's failed notifications do not grow; both answer the panel.

A break opens an "alert-path" event, its recovery closes it; the stack page's
"delivery" row reads StackWatch."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from stacks.models import Deployment, Event, Stack, StackWatch
from stacks.notifications import events
from stacks.notifications.deliver import alertmanager_of, deployed_endpoint
from stacks.render import HEARTBEAT_FILE
from stacks.seams.alertmanager import AlertmanagerError
from stacks.seams.prometheus import Prometheus, PrometheusError

log = logging.getLogger(__name__)

PROMETHEUS_COUNTERS = {
    "prometheus_notifications_errors_total": "Prometheus could not send {n} notification(s) to Alertmanager",
    "prometheus_notifications_dropped_total": "Prometheus dropped {n} alert notification(s)",
    "prometheus_rule_evaluation_failures_total": "{n} rule evaluation(s) failed in Prometheus",
}
ALERTMANAGER_COUNTERS = {
    "alertmanager_notifications_failed_total": "Alertmanager failed {n} notification(s) to its receivers",
}


def heartbeat_arrived(slugs, now=None):
    """The webhook saw the heartbeat of these stacks (stacks.alerting.payload)."""
    now = now or timezone.now()
    for stack in Stack.objects.filter(slug__in=slugs):
        StackWatch.objects.update_or_create(stack=stack, defaults={"last_heartbeat": now})


def last_deploy(stack):
    return (Deployment.objects.filter(stack=stack, action="deploy", status=Deployment.SUCCEEDED)
            .order_by("-id").first())


def watched(stack):
    """The last successful deploy, when it shipped the heartbeat and the stack has
    not been stopped or brought down since."""
    deployed = last_deploy(stack)
    if deployed is None or HEARTBEAT_FILE not in deployed.files:
        return None
    later = stack.deployments.filter(pk__gt=deployed.pk, action__in=["stop", "down"],
                                     status=Deployment.SUCCEEDED).exists()
    return None if later else deployed


def prometheus_of(stack):
    """The stack's Prometheus as the panel deployed it (deliver.deployed_endpoint); None without one."""
    endpoint = deployed_endpoint(stack, "prometheus")
    return Prometheus(endpoint) if endpoint else None


def _grown(now_values, before, texts):
    out = []
    for name, value in now_values.items():
        previous = before.get(name)
        if previous is not None and value > previous:  # a smaller value: the component restarted
            out.append(texts[name].format(n=int(value - previous)) + " since the last check")
    return out


def problems(stack, watch, deployed, now):
    """(reasons, counters): what is wrong with the path now, in plain words."""
    reasons, counters = [], {}
    prom, am = prometheus_of(stack), alertmanager_of(stack)
    if prom is None or am is None:
        return ["Prometheus or Alertmanager publishes no port the panel can reach, so the path cannot be "
                "checked."], counters
    try:
        active, dropped = prom.alertmanagers()
        if not active:
            reasons.append("Prometheus has no Alertmanager to send alerts to"
                           + (f" (dropped: {', '.join(dropped)})" if dropped else ""))
        counters.update(prom.counters(list(PROMETHEUS_COUNTERS)))
    except PrometheusError as exc:
        reasons.append(str(exc))
    try:
        counters.update(am.counters(list(ALERTMANAGER_COUNTERS)))
    except AlertmanagerError as exc:
        reasons.append(str(exc))
    reasons += _grown(counters, watch.counters, {**PROMETHEUS_COUNTERS, **ALERTMANAGER_COUNTERS})
    stale = timedelta(seconds=settings.PANEL_HEARTBEAT_STALE_SECONDS)
    since = max(filter(None, [watch.last_heartbeat, deployed.finished or deployed.created]))
    if now - since > stale:
        heard = (f"since {watch.last_heartbeat:%Y-%m-%d %H:%M:%S} UTC" if watch.last_heartbeat
                 else "since the deploy")
        reasons.append(f"No heartbeat from Alertmanager to the panel {heard}: alerts do not reach the panel")
    return reasons, counters


def check(stack, now=None):
    """Check one stack's alert path; returns its StackWatch (path_ok None: not watched)."""
    now = now or timezone.now()
    watch = StackWatch.of(stack)
    deployed = watched(stack)
    if deployed is None:
        if watch.path_ok is False:
            events.close_event(stack, Event.ALERT_PATH, detail="no longer watched")
        watch.path_ok, watch.path_reason, watch.path_checked = None, "", now
        watch.save(update_fields=["path_ok", "path_reason", "path_checked"])
        return watch
    reasons, counters = problems(stack, watch, deployed, now)
    was = watch.path_ok
    watch.path_ok, watch.path_reason, watch.path_checked = not reasons, "; ".join(reasons), now
    # Counters not read this time keep their last value: a component that answers
    # again is compared with what it said before it stopped answering.
    watch.counters = {**watch.counters, **counters}
    watch.save(update_fields=["path_ok", "path_reason", "path_checked", "counters"])
    if reasons and was is not False:
        events.open_event(stack, Event.ALERT_PATH, f"Alert delivery broken on {stack.slug}",
                          detail=watch.path_reason)
    elif not reasons and was is False:
        events.close_event(stack, Event.ALERT_PATH, detail="alert delivery works again")
    return watch
