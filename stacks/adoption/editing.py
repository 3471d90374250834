"""A stack as one Compose file to edit: its rows written out as the importer
reads them back (`compose_text`), and an edited text checked (`check`) or saved
(`save`) as rows by the importer's own reading (parse_compose, service_fields,
the compose_keys splitters) and the same validation as a deploy
(validate_stack). Rows keep their identity: a service edited stays the same row,
with its health and its alerts; a service removed from the text goes."""
from django.db import transaction

from stacks.accounts import audit
from stacks.adoption.importer import parse_compose, service_fields
from stacks.lib.compose_keys import Refused, split_network, split_top_level, split_volume
from stacks.lib.composefile import escape_dollars
from stacks.lib.yamlio import dump_yaml
from stacks.models import Network, Service, Volume
from stacks.render.compose import compose_dict
from stacks.validation.checks import validate_stack

# What the panel knows of a service beyond its Compose keys: kept by an edit.
PANEL_FIELDS = ("role", "ui_name", "ui_port", "ui_path", "probe_path")


class _Verbatim:
    """Secrets as written (${secret:NAME}), not their values; $ written as $$
    so that reading the text back gives the same value."""

    @staticmethod
    def expand(value):
        return escape_dollars(value)


def compose_text(stack):
    services = list(stack.services.order_by("order", "name"))
    doc = compose_dict(stack, services, list(stack.networks.all()), list(stack.volumes.all()), _Verbatim())
    for svc in services:
        if svc.command:  # as stored: ${public_url} stays a placeholder
            doc["services"][svc.name]["command"] = escape_dollars(list(svc.command))
    return dump_yaml(doc)


class _Discard(Exception):
    pass


def check(stack, text):
    """The problems the text would have as this stack's Compose file; nothing is kept."""
    try:
        with transaction.atomic():
            problems = _apply(stack, text)
            raise _Discard(problems)
    except _Discard as done:
        stack.refresh_from_db()
        return done.args[0]


def save(stack, text, user=None):
    """(saved, problems): the rows take the text when no problem is an error."""
    with transaction.atomic():
        problems = _apply(stack, text)
        if any(p.startswith("error") for p in problems):
            transaction.set_rollback(True)
            saved = False
        else:
            audit.record("edit", f"stack {stack.slug}", user=user, detail="Compose file edited on its page")
            saved = True
    if not saved:
        stack.refresh_from_db()
    return saved, problems


def _apply(stack, text):
    try:
        doc = parse_compose(text, stack.slug)
        compose_extra = split_top_level(doc)
        networks = {key: split_network(key, spec) for key, spec in (doc.get("networks") or {}).items()}
        volumes = {key: split_volume(key, spec) for key, spec in (doc.get("volumes") or {}).items()}
        services = {name: service_fields(name, spec) for name, spec in doc["services"].items()}
    except (ValueError, Refused) as exc:  # the schema's problems come joined by "; "
        return [f"error: {part}" for part in str(exc).split("; ")]
    stack.compose_extra = compose_extra
    stack.save(update_fields=["compose_extra", "updated"])
    _replace(stack, Network, networks)
    _replace(stack, Volume, volumes)
    existing = {s.name: s for s in stack.services.all()}
    for order, (name, fields) in enumerate(services.items()):
        old = existing.get(name)
        if old is not None:
            fields.update({f: getattr(old, f) for f in PANEL_FIELDS})
        svc = Service(stack=stack, order=order, **fields)
        svc.pk = old.pk if old is not None else None
        try:
            svc.full_clean(exclude=["stack"], validate_unique=False)
        except Exception as exc:  # noqa: BLE001 — Django's ValidationError, said per field
            detail = "; ".join(f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v)
                               for k, v in getattr(exc, "message_dict", {"__all__": [str(exc)]}).items())
            return [f"error: services.{name}: {detail}"]
        svc.save()
    stack.services.exclude(name__in=list(services)).delete()
    return [str(p) for p in validate_stack(stack)]


def _replace(stack, model, wanted):
    rows = {r.key: r for r in model.objects.filter(stack=stack)}
    for key, (fields, extra) in wanted.items():
        row = model(stack=stack, extra=extra, **fields)
        row.pk = rows[key].pk if key in rows else None
        row.save()
    model.objects.filter(stack=stack).exclude(key__in=list(wanted)).delete()
