"""Alerts: filtered and grouped by name, live; detail with history; silence and
acknowledge for operators."""
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from stacks.accounts import audit
from stacks.accounts.access import can_operate, can_operate_any, can_silence, visible_alerts, visible_stacks
from stacks.alerting import acks, search
from stacks.alerting.acks import alertmanager_for, silence_matches
from stacks.alerting.search import filtered
from stacks.models import Alert
from stacks.monitoring.timeline import operation_before
from stacks.operations import rollback
from stacks.seams.alertmanager import AlertmanagerError
from stacks.views import render_page
from stacks.views.routes import who_gets

PAGE = 100


def alert_list(request):
    """The most recent alerts that match, grouped by name (a search: the best of
    the recent matches, ranked). Group headers count the firing ones (an index
    lookup) rather than the whole history."""
    params = request.GET
    qs = filtered(params, request.user)
    text = params.get("q", "").strip()
    if text:
        shown = search.ranked(qs, text, PAGE)
        qs = search.matching(qs, text)
    else:
        shown = qs.order_by("-starts_at", "-id")[:PAGE]
    alerts = list(shown.select_related("stack", "service", "acknowledged_by"))
    firing = {} if params.get("status") == "resolved" else dict(
        qs.filter(status="firing").order_by().values_list("name").annotate(n=Count("id")))
    groups = {}
    for position, a in enumerate(alerts):
        groups.setdefault(a.name, {"name": a.name, "alerts": [], "firing": firing.get(a.name, 0),
                                   "best": position})["alerts"].append(a)
    # A search lists its most relevant group first; otherwise what fires most.
    order = (lambda g: (g["best"], g["name"])) if text else (lambda g: (-g["firing"], g["name"]))
    context = {
        "groups": sorted(groups.values(), key=order), "shown": len(alerts),
        "page_size": PAGE, "params": params,
        "stacks": list(visible_stacks(request.user).order_by("slug").values_list("slug", flat=True)),
        "severities": ["critical", "warning", "info"],
        "can_silence": can_operate_any(request.user),
    }
    return render_page(request, "stacks/alerts.html", context, partial="alert-groups")


def alert_detail(request, pk):
    alert = get_object_or_404(visible_alerts(request.user, qs=Alert.objects.select_related(
        "stack", "service", "acknowledged_by")), pk=pk)
    deliveries = list(alert.deliveries.order_by("-id")[:50])
    earlier = list(Alert.objects.filter(fingerprint=alert.fingerprint).exclude(pk=alert.pk).order_by("-starts_at")[:20])
    silences, am_error = [], ""
    am = alertmanager_for(alert)
    if am is not None:
        try:
            silences = [s for s in am.silences() if silence_matches(s, alert.labels)]
        except AlertmanagerError as exc:
            am_error = str(exc)
    before = operation_before(alert)
    reach, reach_error = who_gets(alert.stack, alert.labels) if alert.stack_id and alert.stack else (None, "")
    # Undo from the alert: a deploy started it, so offer the deployment before that one (plan first).
    undo = (rollback.before(before) if before is not None and before.action == "deploy"
            and alert.stack is not None and can_operate(request.user, alert.stack) else None)
    context = {"alert": alert, "before": before, "undo": undo, "deliveries": deliveries, "earlier": earlier,
               "silences": silences, "reach": reach, "reach_error": reach_error,
               "am_error": am_error, "can_silence": can_silence(request.user, alert),
               "durations": [("1h", "1 hour"), ("4h", "4 hours"), ("24h", "1 day"), ("168h", "1 week")]}
    return render_page(request, "stacks/alert_detail.html", context, partial="state")


def _alert_to_silence(request, pk):
    alert = get_object_or_404(visible_alerts(request.user), pk=pk)
    if not can_silence(request.user, alert):
        raise PermissionDenied("Operators of this alert's stack only.")
    return alert


@require_POST
def alert_silence(request, pk):
    alert = _alert_to_silence(request, pk)
    hours = {"1h": 1, "4h": 4, "24h": 24, "168h": 168}.get(request.POST.get("duration", "1h"), 1)
    names = request.POST.getlist("matcher") or ["alertname", "instance", "job"]
    matchers = {k: v for k, v in alert.labels.items() if k in names}
    comment = request.POST.get("comment", "").strip() or f"Silenced from the panel: {alert.name}"
    am = alertmanager_for(alert)
    if am is None:
        messages.error(request, "No Alertmanager deployed by the panel is running with a published port (as the last "
                                "health check saw it): nothing to silence in.")
    else:
        try:
            silence_id = am.create_silence(matchers, timedelta(hours=hours), request.user.get_username(), comment)
            messages.success(request, f"Silenced for {hours}h (silence {silence_id}).")
            audit.record("silence", f"alert {alert.name} #{alert.pk}", request=request,
                         detail=f"silence {silence_id} for {hours}h on {matchers}: {comment}")
        except AlertmanagerError as exc:
            messages.error(request, str(exc))
    return redirect("alert-detail", pk=pk)


@require_POST
def silence_expire(request, pk, silence_id):
    alert = _alert_to_silence(request, pk)
    am = alertmanager_for(alert)
    try:
        if am is None:
            raise AlertmanagerError("No Alertmanager to talk to.")
        am.expire(silence_id)
        messages.success(request, "Silence expired.")
        audit.record("expire silence", f"alert {alert.name} #{alert.pk}", request=request,
                     detail=f"silence {silence_id}")
    except AlertmanagerError as exc:
        messages.error(request, str(exc))
    return redirect("alert-detail", pk=pk)


@require_POST
def alert_acknowledge(request, pk):
    alert = _alert_to_silence(request, pk)
    comment = request.POST.get("comment", "").strip()
    was_acknowledged = alert.acknowledged_at is not None
    if not comment:
        messages.error(request, "Say what you are doing about it: an acknowledgement needs a reason.")
    else:
        try:
            silence_id = acks.acknowledge(alert, request.user, comment)
        except AlertmanagerError as exc:
            messages.error(request, f"{alert.name} acknowledged, but not silenced: {exc}")
        else:
            until = " and silenced until it resolves" if silence_id else ""
            messages.success(request, "Reason changed." if was_acknowledged else f"{alert.name} acknowledged{until}.")
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("alert-detail", pk=pk)
