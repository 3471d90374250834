"""The numbers behind the panel's pictures, as JSON-ready dicts: an alert's
expression over time (from the stack's Prometheus), per-service CPU/memory and
health history, the overview's firing-alert strips, and the operations that
mark them. Each function makes a fixed number of queries, whatever the size."""
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import BigIntegerField, Case, Func, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from stacks.models import Alert, AlertRule, Deployment, HealthChange, ServiceHealth, Stack
from stacks.monitoring import resources
from stacks.seams.prometheus import Prometheus, PrometheusError

HOUR = 3600
DAY = 24 * HOUR
STRIP_BUCKET = 1800  # the overview strip: 48 half hours


def unix(dt):
    return int(dt.timestamp())


class Epoch(Func):
    """Seconds since 1970 of a datetime, computed by the database."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::bigint", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)",
                           **extra)


def seconds(duration):
    """A Prometheus duration (5m, 1h30m, 2s) in seconds; 0 for ''."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY, "y": 365 * DAY}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration or ""))


def operation_markers(stack_ids, since, until):
    """Each operation (deploy, stop, down, restart) on the stacks in [since, until]."""
    ops = (Deployment.objects.filter(stack_id__in=stack_ids, created__lte=until)
           .filter(Q(started__gte=since) | Q(started__isnull=True, created__gte=since))
           .order_by("id").values("id", "stack_id", "action", "status", "options", "created", "started"))
    out = []
    for d in ops:
        at = d["started"] or d["created"]
        label = d["action"] + (f" {d['options']['service']}" if d["options"].get("service") else "")
        out.append({"t": unix(at), "action": d["action"], "label": label, "status": d["status"], "id": d["id"],
                    "stack_id": d["stack_id"]})
    return out


# --- alert graph ------------------------------------------------------------------

_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def split_threshold(expr):
    """(what to graph, operator, threshold) for `X > 0.9`-like expressions: the last
    comparison outside brackets and strings with a plain number on one side.
    (expr, None, None) when there is none (the graph shows the whole expression)."""
    depth, quote, found, i = 0, None, [], 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            op = next((o for o in _COMPARISONS if expr.startswith(o, i)), None)
            if op and not (op in ("<", ">") and expr[i + 1:i + 2] == "="):
                found.append((i, op))
                i += len(op)
                continue
        i += 1
    flipped = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
    for pos, op in reversed(found):
        left, right = expr[:pos].strip(), expr[pos + len(op):].strip()
        if right.startswith("bool"):
            continue
        if _NUMBER.match(right):
            return left, op, float(right)
        if _NUMBER.match(left):
            return right, flipped[op], float(left)
    return expr.strip(), None, None


def prometheus_for(stack):
    """The base URL of the stack's Prometheus as the health poller last found it
    running, deployed by the panel (ServiceHealth.endpoint), or None."""
    return (ServiceHealth.objects.filter(service__stack=stack, service__role="prometheus", state="running")
            .exclude(endpoint="").order_by("service__order", "service__name")
            .values_list("endpoint", flat=True).first())


def _series_label(labels):
    name = labels.get("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner else (name or "value")


def _matches(series_labels, alert_labels):
    return all(alert_labels[k] == v for k, v in series_labels.items() if k in alert_labels)


def alert_graph(alert, now=None):
    """The alert's rule expression around the occurrence, with its threshold, the
    `for:` window, the firing span and the stack's operations. On a failure the
    dict has "error" (and "status" for the response) instead of data."""
    now = now or timezone.now()
    firing_end = None if alert.status == "firing" else (alert.resolved_at or alert.ends_at or now)
    out = {"live": alert.status == "firing", "now": unix(now)}
    # The rule lives with the Prometheus that evaluates it, which may belong to
    # another stack than the one the alert is about (a monitoring stack watching
    # an app stack): prefer the alert's own stack, else the rule of that name.
    rules = list(AlertRule.objects.filter(name=alert.name).select_related("stack").order_by("-enabled", "id"))
    rule = next((r for r in rules if r.stack_id == alert.stack_id), rules[0] if rules else None)
    if rule is None:
        return {**out, "error": f"No alert rule named {alert.name} in the panel: nothing to graph.", "status": 404}
    for_s = seconds(rule.for_duration)
    lead = max(30 * 60, 4 * for_s)
    start = alert.starts_at - timedelta(seconds=lead)
    end = min(now, (firing_end or now) + timedelta(seconds=max(10 * 60, lead // 3)))
    graphed, op, threshold = split_threshold(rule.expr)
    out.update({
        "rule": rule.expr, "expr": graphed, "op": op, "threshold": threshold, "for_seconds": for_s,
        "start": unix(start), "end": unix(end),
        "pending": [unix(alert.starts_at) - for_s, unix(alert.starts_at)] if for_s else None,
        "firing": [unix(alert.starts_at), unix(firing_end) if firing_end else None],
        "markers": operation_markers([alert.stack_id or rule.stack_id], start, end),
    })
    base = prometheus_for(rule.stack)
    if base is None:
        return {**out, "error": f"Stack {rule.stack.slug} runs no Prometheus deployed by the panel with a "
                                f"published port (as the last health check saw it): nothing to query.",
                "status": 404}
    try:
        found, step = Prometheus(base, timeout=settings.PROMETHEUS_QUERY_TIMEOUT).query_range(
            graphed, start, end, step=max(1, seconds(rule.stack.scrape_interval)))
    except PrometheusError as exc:
        return {**out, "error": str(exc), "status": 422 if exc.permanent else 502}
    mine = [s for s in found if _matches(s["labels"], alert.labels)] or found
    xs = sorted({t for s in mine for t, _ in s["points"]})
    index = {t: i for i, t in enumerate(xs)}
    series = []
    for s in mine:
        values = [None] * len(xs)
        for t, v in s["points"]:
            values[index[t]] = v
        series.append({"label": _series_label(s["labels"]), "values": values})
    out.update({"x": [int(t) for t in xs], "series": series, "step": step, "points": len(xs)})
    if xs:
        # Prometheus has nothing before its first sample (a young stack): start the
        # picture there, or at the first operation shown, not at an empty half hour.
        first = min([xs[0]] + [m["t"] for m in out["markers"]])
        out["start"] = max(out["start"], int(first) - 2 * step)
    return out


# --- stack page: resources and health ---------------------------------------------------

HEALTH_LEVELS = {"unknown": 0, "down": 1, "unhealthy": 2, "healthy": 3}


def health_level(summary):
    """A HealthChange summary ("running, healthy, probe ok") as one of four states."""
    if not summary:
        return "unknown"
    parts = [p.strip() for p in summary.split(",")]
    if parts[0] == "unknown":
        return "unknown"
    if parts[0] != "running":
        return "down"
    if "unhealthy" in parts or any(p.startswith("probe failed") for p in parts):
        return "unhealthy"
    if "starting" in parts:
        return "unknown"
    return "healthy"


def stack_charts(stack, now=None):
    """Per service: CPU/memory for the last hour and health for the last 24 h (or
    since the first health change known, at least an hour), and the stack's
    operations in that span. Four queries."""
    now = now or timezone.now()
    since = now - timedelta(seconds=DAY)
    before = HealthChange.objects.filter(service=OuterRef("pk"), at__lt=since).order_by("-at", "-id")
    services = list(stack.services.order_by("order", "name")
                    .annotate(health_before=Subquery(before.values("summary")[:1])))
    samples = resources.series(services, now - timedelta(seconds=HOUR))
    changes = {}
    for sid, at, summary in (HealthChange.objects.filter(service__stack=stack, at__gte=since, at__lte=now)
                             .order_by("at", "id").values_list("service_id", "at", "summary")):
        changes.setdefault(sid, []).append((at, summary))
    if not any(svc.health_before for svc in services):
        # A young stack: the strip spans what is known (at least an hour), not 23 h of "unknown".
        known = [at for found in changes.values() for at, _ in found]
        since = max(since, min(known + [now - timedelta(seconds=HOUR)]))
    out = []
    for svc in services:
        t, states = [unix(since)], [health_level(svc.health_before)]
        for at, summary in changes.get(svc.pk, []):
            t.append(unix(at))
            states.append(health_level(summary))
        t.append(unix(now))
        states.append(states[-1])
        spent = {}
        for i in range(len(t) - 1):
            if t[i + 1] > t[i]:
                spent[states[i]] = spent.get(states[i], 0) + t[i + 1] - t[i]
        out.append({"name": svc.name, "resources": samples[svc.pk],
                    "health": {"t": t, "state": states, "level": [HEALTH_LEVELS[s] for s in states],
                               "seconds": spent}})
    return {"now": unix(now), "since": unix(since), "services": out, "levels": HEALTH_LEVELS,
            "markers": operation_markers([stack.pk], since, now)}


# --- overview: firing alerts per stack -------------------------------------------------

def overview_strips(now=None, stacks=None):
    """Per stack (of `stacks`, a queryset; default all), how many alerts were firing in each half hour of the last 24 h
    (any part of it), with the stacks' operations. Three queries."""
    now = now or timezone.now()
    end = unix(now) // STRIP_BUCKET * STRIP_BUCKET + STRIP_BUCKET
    start = end - DAY
    since = datetime.fromtimestamp(start, tz=dt_timezone.utc)
    stacks = dict((Stack.objects.all() if stacks is None else stacks).values_list("pk", "slug"))
    counts = {pk: [0] * (DAY // STRIP_BUCKET) for pk in stacks}
    # One end time per alert, chosen by the database, and both times as integers:
    # parsing tens of thousands of timestamps would cost ten times more.
    ended = Case(When(status="firing", then=Value(None)), default=Coalesce("resolved_at", "ends_at"))
    alerts = (Alert.objects.filter(stack__in=list(stacks), starts_at__lt=now)
              .filter(Q(status="firing") | Q(resolved_at__gte=since) | Q(resolved_at__isnull=True, ends_at__gte=since))
              .values_list("stack_id", Epoch("starts_at"), Epoch(ended)))
    now_s = unix(now)
    for sid, starts, ended in alerts:
        a = max(int(starts), start)
        b = int(ended) if ended is not None else now_s
        first, last = (a - start) // STRIP_BUCKET, (min(b, end - 1) - start) // STRIP_BUCKET
        for i in range(max(first, 0), min(last, DAY // STRIP_BUCKET - 1) + 1):
            counts[sid][i] += 1
    markers = {}
    for m in operation_markers(list(stacks), since, now):
        markers.setdefault(m["stack_id"], []).append(m)
    return {"start": start, "step": STRIP_BUCKET, "now": unix(now),
            "stacks": {slug: {"counts": counts[pk], "markers": markers.get(pk, [])} for pk, slug in stacks.items()}}
