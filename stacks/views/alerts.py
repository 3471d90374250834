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
from stacks.alerting import acks, search
from stacks.alerting.acks import alertmanager_for, silence_matches
from stacks.models import Alert, Stack
from stacks.monitoring.timeline import operation_before
from stacks.seams.alertmanager import AlertmanagerError
from stacks.views import render_page

PAGE = 100


def filtered(params):
    """Alerts matching the page's filters. Each filter has an index that reads in
    starts_at order (Alert.Meta.indexes); search has the GIN index on PostgreSQL."""
    qs = Alert.objects.all()
    if params.get("status") in ("firing", "resolved"):
        qs = qs.filter(status=params["status"])
    if params.get("severity"):
        qs = qs.filter(severity=params["severity"])
    if params.get("stack"):
        stack_id = Stack.objects.filter(slug=params["stack"]).values_list("id", flat=True).first()
        qs = qs.filter(stack_id=stack_id) if stack_id else qs.none()
    return qs


def alert_list(request):
    """The most recent alerts that match, grouped by name (a search: the best of
    the recent matches, ranked). Group headers count the firing ones (an index
    lookup) rather than the whole history."""
    params = request.GET
    qs = filtered(params)
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
        "stacks": list(Stack.objects.values_list("slug", flat=True)),
        "severities": ["critical", "warning", "info"],
        "can_silence": request.user.has_perm("stacks.silence_alert"),
    }
    return render_page(request, "stacks/alerts.html", context, partial="alert-groups")


def alert_detail(request, pk):
    alert = get_object_or_404(Alert.objects.select_related("stack", "service", "acknowledged_by"), pk=pk)
    deliveries = list(alert.deliveries.order_by("-id")[:50])
    earlier = list(Alert.objects.filter(fingerprint=alert.fingerprint).exclude(pk=alert.pk).order_by("-starts_at")[:20])
    silences, am_error = [], ""
    am = alertmanager_for(alert)
    if am is not None:
        try:
            silences = [s for s in am.silences() if silence_matches(s, alert.labels)]
        except AlertmanagerError as exc:
            am_error = str(exc)
    context = {"alert": alert, "before": operation_before(alert), "deliveries": deliveries, "earlier": earlier,
               "silences": silences,
               "am_error": am_error, "can_silence": request.user.has_perm("stacks.silence_alert"),
               "durations": [("1h", "1 hour"), ("4h", "4 hours"), ("24h", "1 day"), ("168h", "1 week")]}
    return render_page(request, "stacks/alert_detail.html", context, partial="state")


def _require_silence_perm(request):
    if not request.user.has_perm("stacks.silence_alert"):
        raise PermissionDenied("Operators only.")


@require_POST
def alert_silence(request, pk):
    _require_silence_perm(request)
    alert = get_object_or_404(Alert, pk=pk)
    hours = {"1h": 1, "4h": 4, "24h": 24, "168h": 168}.get(request.POST.get("duration", "1h"), 1)
    names = request.POST.getlist("matcher") or ["alertname", "instance", "job"]
    matchers = {k: v for k, v in alert.labels.items() if k in names}
    comment = request.POST.get("comment", "").strip() or f"Silenced from the panel: {alert.name}"
    am = alertmanager_for(alert)
    if am is None:
        messages.error(request, "No stack runs an Alertmanager with a published port: nothing to silence in.")
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
    _require_silence_perm(request)
    alert = get_object_or_404(Alert, pk=pk)
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
    _require_silence_perm(request)
    alert = get_object_or_404(Alert, pk=pk)
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
