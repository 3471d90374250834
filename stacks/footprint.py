"""A stack's footprint: the host ports it publishes and the engine networks its
services join. Cross-stack checks (port clashes, scrape targets on other stacks)
read the other stacks' footprints from indexed rows, derived once per change,
instead of rendering every other stack on every validation. Database triggers
(migration 0005) drop a stack's footprint whenever its services, networks or
slug change, however they are changed; it is derived again when next needed."""
import hashlib
import json

from django.db import IntegrityError, transaction

from .models import HostPortClaim, NetworkMember, Stack, StackFootprint, parse_port


def service_networks(spec):
    nets = spec.get("networks") or ["default"]
    return list(nets)


def engine_network_names(slug, compose_doc, keys):
    defs = compose_doc.get("networks") or {}
    return {(defs.get(key) or {}).get("name") or f"{slug}_{key}" for key in keys}


def host_ports(port_spec, replicas):
    """Host ports a service claims: [(ip, proto, port)]; a single port with more
    than one replica is claimed once per replica (that is the clash)."""
    ip, host, _container, proto = parse_port(port_spec)
    if not host:
        return []
    if "-" in host:
        lo, hi = (int(x) for x in host.split("-"))
        return [(ip or "0.0.0.0", proto, p) for p in range(lo, hi + 1)]
    return [(ip or "0.0.0.0", proto, int(host))] * replicas


def claims(compose_doc):
    """[((ip, proto, port), service)] for every published host port."""
    out = []
    for name, spec in (compose_doc.get("services") or {}).items():
        for port in spec.get("ports") or []:
            try:
                out += [(claim, name) for claim in host_ports(port, 1)]
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
    from .render import Secrets, compose

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
