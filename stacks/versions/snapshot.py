"""A stack's definition as one JSON document: the stack's own settings and every
row of it (services, networks, volumes, files, scrape jobs, alert rules,
receivers, routes, inhibit rules, Grafana datasources and dashboards, log
routes), each without its database id, in a stable order. A version keeps one;
restoring one puts exactly those rows back."""
import hashlib
import json

from django.db import transaction

from stacks import models as m

# The stack's own fields that are placement, bookkeeping or the panel's own
# behaviour, not definition: a rollback does not move a stack (nor its
# directory), its slug is its name, and holding alerts during deploys is a
# choice about the panel that going back to older files does not undo.
STACK_SKIP = {"id", "slug", "engine", "moved_from", "created", "updated", "directory_override", "hold_alerts"}

# (key in the snapshot, model, the fields that name a row in a diff). Routes
# refer to their receiver by name; receivers are restored before routes.
ROWS = [
    ("networks", m.Network, ("key",)),
    ("volumes", m.Volume, ("key",)),
    ("services", m.Service, ("name",)),
    ("files", m.StackFile, ("path",)),
    ("scrape_jobs", m.ScrapeJob, ("job_name",)),
    ("alert_rules", m.AlertRule, ("group", "name")),
    ("receivers", m.Receiver, ("name",)),
    ("routes", m.Route, ("order", "receiver")),
    ("inhibit_rules", m.InhibitRule, ("source_matchers", "target_matchers")),
    ("datasources", m.GrafanaDatasource, ("name",)),
    ("dashboards", m.GrafanaDashboard, ("slug",)),
    ("log_routes", m.LogRoute, ("order", "tag_pattern")),
]


def _fields(model, skip=("id", "stack")):
    return [f for f in model._meta.concrete_fields if f.name not in skip]


def _row(obj, fields):
    out = {}
    for f in fields:
        if f.name == "receiver":
            out["receiver"] = obj.receiver.name
        else:
            out[f.name] = f.value_from_object(obj)
    return out


def take(stack):
    """The definition of `stack` now: {"stack": {...}, "services": [...], …}."""
    doc = {"stack": _row(stack, _fields(m.Stack, STACK_SKIP))}
    for key, model, _name in ROWS:
        fields = _fields(model)
        rows = model.objects.filter(stack=stack).order_by("pk")
        if model is m.Route:
            rows = rows.select_related("receiver")
        doc[key] = [_row(obj, fields) for obj in rows]
    return doc


def digest(doc):
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def restore(stack, doc):
    """Make the rows of `stack` exactly those of `doc` (one transaction): the
    stack's settings are set, services are updated in place by name (their
    health, samples and alerts stay theirs), the other rows are replaced."""
    with transaction.atomic():
        for name, value in doc["stack"].items():
            setattr(stack, name, value)
        stack.save()
        for _key, model, _name in reversed(ROWS):
            if model is not m.Service:
                model.objects.filter(stack=stack).delete()
        wanted = {row["name"] for row in doc.get("services", [])}
        m.Service.objects.filter(stack=stack).exclude(name__in=wanted).delete()
        existing = {s.name: s for s in m.Service.objects.filter(stack=stack)}
        receivers = {}
        for key, model, _name in ROWS:
            for row in doc.get(key, []):
                values = dict(row)
                if model is m.Route:
                    values["receiver"] = receivers[values["receiver"]]
                if model is m.Service and values["name"] in existing:
                    service = existing[values["name"]]
                    for name, value in values.items():
                        setattr(service, name, value)
                    service.save()
                    continue
                obj = model.objects.create(stack=stack, **values)
                if model is m.Receiver:
                    receivers[obj.name] = obj
    return stack


def _label(row, names):
    return " ".join(str(row.get(n)) for n in names)


def row_changes(old, new):
    """What changed between two definitions, one line each, in the rows' terms:
    ["service web: environment changed", "alert rule default Down: added", …]."""
    lines = []
    for k in sorted(set(old.get("stack", {})) | set(new.get("stack", {}))):
        if old.get("stack", {}).get(k) != new.get("stack", {}).get(k):
            lines.append(f"stack: {k} changed")
    for key, _model, names in ROWS:
        what = key.rstrip("s").replace("_", " ")
        before = {_label(r, names): r for r in old.get(key, [])}
        after = {_label(r, names): r for r in new.get(key, [])}
        for label in sorted(set(before) | set(after)):
            a, b = before.get(label), after.get(label)
            if a is None:
                lines.append(f"{what} {label}: added")
            elif b is None:
                lines.append(f"{what} {label}: removed")
            elif a != b:
                changed = [f for f in sorted(set(a) | set(b)) if a.get(f) != b.get(f)]
                lines.append(f"{what} {label}: {', '.join(changed)} changed")
    return lines
