"""A stack's footprint: the host ports it publishes and the engine networks its
services join. Cross-stack checks (port clashes, scrape targets on other stacks)
read the other stacks' footprints from indexed rows, derived once per change,
instead of rendering every other stack on every validation. Database triggers
drop a stack's footprint whenever its services, networks or
slug change, however they are changed; it is derived again when next needed."""
import hashlib
import json

from django.db import IntegrityError, transaction

from stacks.lib.composefile import claimed_host_ports, network_name, service_networks
from stacks.models import HostPortClaim, NetworkMember, Stack, StackFootprint
from stacks.render import Secrets, compose


def engine_network_names(slug, compose_doc, keys):
    defs = compose_doc.get("networks") or {}
    return {network_name(slug, key, defs.get(key)) for key in keys}


def claims(compose_doc):
    """[((ip, proto, port), service)] for every published host port."""
    out = []
    for name, spec in (compose_doc.get("services") or {}).items():
        for port in spec.get("ports") or []:
            try:
                out += [(claim, name) for claim in claimed_host_ports(port, 1)]
            except ValueError:
                continue
    return out


def members(slug, compose_doc):
    """[(service, engine network name)]; a service without networks is on <slug>_default."""
    return [(name, net) for name, spec in (compose_doc.get("services") or {}).items()
            for net in sorted(engine_network_names(slug, compose_doc, service_networks(spec)))]


def _derive(stack, compose_doc):
    ports, nets = claims(compose_doc), members(stack.slug, compose_doc)
    digest = hashlib.sha256(json.dumps([stack.slug, ports, nets]).encode()).hexdigest()
    return digest, sorted(set(ports)), nets


def _write(derived):
    """Replace the footprints of these stacks: {stack_id: (digest, ports, nets)}."""
    try:
        with transaction.atomic():
            StackFootprint.objects.filter(stack_id__in=list(derived)).delete()
            footprints = StackFootprint.objects.bulk_create([StackFootprint(stack_id=stack_id, source_hash=digest)
                                                             for stack_id, (digest, _p, _n) in derived.items()])
            by_stack = {fp.stack_id: fp for fp in footprints}
            HostPortClaim.objects.bulk_create([
                HostPortClaim(footprint=by_stack[stack_id], service=svc, ip=ip, proto=proto, port=port)
                for stack_id, (_d, ports, _n) in derived.items() for (ip, proto, port), svc in ports])
            NetworkMember.objects.bulk_create([
                NetworkMember(footprint=by_stack[stack_id], service=svc, network=net)
                for stack_id, (_d, _p, nets) in derived.items() for svc, net in nets])
    except IntegrityError:
        pass  # another process recorded the same stacks at the same moment: its rows serve as well


def record(stack, compose_doc):
    """Keep the stack's footprint rows in step with this Compose document; writes
    only when it changed."""
    derived = _derive(stack, compose_doc)
    current = StackFootprint.objects.filter(stack_id=stack.pk).values_list("source_hash", flat=True).first()
    if current != derived[0]:
        _write({stack.pk: derived})


def ensure_current(exclude=None):
    """Derive the footprint of every stack that has none (new, or changed since),
    all in one write. Only the Compose part is rendered: files and dashboards,
    however large, are never read."""
    stale = Stack.objects.filter(footprint__isnull=True)
    if exclude is not None:
        stale = stale.exclude(pk=exclude.pk)
    derived = {}
    for stack in stale.prefetch_related("services", "networks"):
        doc = compose.compose_dict(stack, list(stack.services.all()), list(stack.networks.all()), [], Secrets({}))
        derived[stack.pk] = _derive(stack, doc)
    if derived:
        _write(derived)


def claims_on(ports, exclude):
    """Other stacks' claims on any of these host ports: [((ip, proto, port), "slug/service")]."""
    ensure_current(exclude)
    rows = (HostPortClaim.objects.filter(port__in=sorted(set(ports))).exclude(footprint__stack=exclude)
            .order_by("footprint__stack__slug", "service", "port")
            .values_list("ip", "proto", "port", "footprint__stack__slug", "service"))
    return [((ip, proto, port), f"{slug}/{svc}") for ip, proto, port, slug, svc in rows]


def services_on(networks, exclude):
    """Names of other stacks' services on any of these engine networks."""
    ensure_current(exclude)
    return set(NetworkMember.objects.filter(network__in=sorted(networks)).exclude(footprint__stack=exclude)
               .values_list("service", flat=True))


def stacks_running(names, exclude):
    """{service name: slug of the first other stack (by slug) with a service of that name}."""
    ensure_current(exclude)
    found = {}
    rows = (NetworkMember.objects.filter(service__in=sorted(names)).exclude(footprint__stack=exclude)
            .order_by("footprint__stack__slug").values_list("service", "footprint__stack__slug"))
    for name, slug in rows:
        found.setdefault(name, slug)
    return found


# --- Triggers: the database forgets a footprint itself ---------------------------
# Whenever a stack's services or networks are inserted, updated or deleted, or its
# slug changes, so that QuerySet.update() and raw SQL cannot leave it stale.
_FORGET = """DELETE FROM stacks_hostportclaim WHERE footprint_id IN
                (SELECT id FROM stacks_stackfootprint WHERE stack_id = {sid});
            DELETE FROM stacks_networkmember WHERE footprint_id IN
                (SELECT id FROM stacks_stackfootprint WHERE stack_id = {sid});
            DELETE FROM stacks_stackfootprint WHERE stack_id = {sid};"""

_PG_TRIGGERS = f"""
CREATE OR REPLACE FUNCTION stacks_forget_footprint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'stacks_stack' THEN
        {_FORGET.format(sid="NEW.id")}
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        {_FORGET.format(sid="OLD.stack_id")}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_FORGET.format(sid="NEW.stack_id")}
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER service_footprint AFTER INSERT OR UPDATE OR DELETE ON stacks_service
    FOR EACH ROW EXECUTE FUNCTION stacks_forget_footprint();
CREATE TRIGGER network_footprint AFTER INSERT OR UPDATE OR DELETE ON stacks_network
    FOR EACH ROW EXECUTE FUNCTION stacks_forget_footprint();
CREATE TRIGGER stack_footprint AFTER UPDATE OF slug ON stacks_stack
    FOR EACH ROW EXECUTE FUNCTION stacks_forget_footprint();
"""
_PG_DROP = """
DROP TRIGGER IF EXISTS service_footprint ON stacks_service; DROP TRIGGER IF EXISTS network_footprint ON stacks_network;
DROP TRIGGER IF EXISTS stack_footprint ON stacks_stack; DROP FUNCTION IF EXISTS stacks_forget_footprint();
"""
_SQLITE_EVENTS = {"ins": ("INSERT", ["NEW"]), "upd": ("UPDATE", ["OLD", "NEW"]), "del": ("DELETE", ["OLD"])}


def _sqlite_triggers():
    """{name: CREATE TRIGGER statement}"""
    out = {}
    for table in ("service", "network"):
        for suffix, (event, rows) in _SQLITE_EVENTS.items():
            body = " ".join(_FORGET.format(sid=f"{row}.stack_id") for row in rows)
            out[f"{table}_footprint_{suffix}"] = f"AFTER {event} ON stacks_{table} BEGIN {body} END"
    out["stack_footprint"] = f"AFTER UPDATE OF slug ON stacks_stack BEGIN {_FORGET.format(sid='NEW.id')} END"
    return {name: f"CREATE TRIGGER {name} {rest}" for name, rest in out.items()}


def drop_triggers(execute, vendor):
    """Drop the footprint triggers, where they exist; `execute` runs one SQL string."""
    if vendor == "postgresql":
        execute(_PG_DROP)
    elif vendor == "sqlite":
        for name in _sqlite_triggers():
            execute(f"DROP TRIGGER IF EXISTS {name}")


def create_triggers(execute, vendor):
    """(Re-)create the footprint triggers. SQLite rebuilds a table to alter it,
    which drops its triggers: after every migrate they are made again
    (StacksConfig.ready); PostgreSQL's ALTER TABLE keeps them."""
    if vendor == "postgresql":
        execute(_PG_TRIGGERS)
    elif vendor == "sqlite":
        drop_triggers(execute, vendor)
        for statement in _sqlite_triggers().values():
            execute(statement)
