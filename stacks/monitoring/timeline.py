"""What happened to a stack, in time order: operations (with their outcome and
what they changed), health changes and alerts, so that "this alert started 40 s
after deploy #12, which recreated api" reads at a glance."""
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse

from stacks.models import Deployment, DeploymentStep, HealthChange

# Step messages that say what an operation changed (written by stacks.engine).
CHANGE_PREFIXES = ("Plan: ", "Wrote ", "Reloaded ", "Recreated ", "Removed ", "Restarted ", "Stopped ")


@dataclass
class Entry:
    at: datetime
    kind: str  # operation | health | alert | resolved
    title: str
    status: str = ""
    url: str = ""
    details: list = field(default_factory=list)
    obj: object = None


def changes(deployment_ids):
    """{deployment id: [what it changed]} in one query (ids: a list or a subquery)."""
    found = {}
    steps = (DeploymentStep.objects.filter(deployment_id__in=deployment_ids)
             .exclude(kind="progress").order_by("id").values_list("deployment_id", "message"))
    for dep_id, message in steps:
        if message.startswith(CHANGE_PREFIXES) and message != "Plan: nothing to change":
            found.setdefault(dep_id, []).append(message.removeprefix("Plan: "))
    return found


def operation_title(d):
    what = f"{d.action} {d.options['service']}" if d.options.get("service") else d.action
    back = f" (rollback to #{d.options['rollback_to']})" if d.options.get("rollback_to") else ""
    return f"{what.capitalize()} #{d.pk} by {d.requested_by or 'script'}{back}"


def stack_timeline(stack, limit=40):
    recent = stack.deployments.order_by("-id")
    deployments = list(recent.select_related("requested_by")[:limit])
    details = changes(recent.values("id")[:limit])  # a subquery: one query, however many there are
    entries = [Entry(at=d.created, kind="operation", title=operation_title(d), status=d.status,
                     url=reverse("deployment-detail", args=[d.pk]), details=(details.get(d.pk, [])[:6] or ([d.error] if d.error else [])),
                     obj=d) for d in deployments]
    for h in (HealthChange.objects.filter(service__stack=stack).select_related("service")
              .order_by("-id")[:limit]):
        entries.append(Entry(at=h.at, kind="health", title=f"{h.service.name}: {h.summary}", obj=h))
    for a in stack.alerts.select_related("service").order_by("-starts_at", "-id")[:limit]:
        where = f" on {a.service.name}" if a.service else ""
        entries.append(Entry(at=a.starts_at, kind="alert", title=f"{a.name} fired{where}", status=a.status,
                             url=reverse("alert-detail", args=[a.pk]), details=[a.summary] if a.summary else [], obj=a))
        if a.resolved_at:
            entries.append(Entry(at=a.ends_at or a.resolved_at, kind="resolved", title=f"{a.name} resolved{where}",
                                 status="resolved", url=reverse("alert-detail", args=[a.pk]), obj=a))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def operation_before(alert):
    """The last operation on the alert's stack that started before the alert did,
    with what it changed."""
    if not alert.stack_id:
        return None
    d = (Deployment.objects.filter(stack_id=alert.stack_id, created__lte=alert.starts_at)
         .select_related("requested_by").order_by("-created", "-id").first())
    if d is not None:
        d.changes = changes([d.pk]).get(d.pk, [])[:6]
        d.title = operation_title(d)
        d.lead = alert.starts_at - (d.finished if d.finished and d.finished <= alert.starts_at else d.created)
    return d
