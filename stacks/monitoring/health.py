"""Health: container state from the engine plus an HTTP probe per service, kept
in ServiceHealth rows with their changes. Pages read the rows; only the poller
(Celery beat) probes."""
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import requests
from django.utils import timezone

from stacks.engine.backend import get_backend
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.engine.operations import compose_projects
from stacks.models import HealthChange, ServiceHealth, Stack
from stacks.monitoring.resources import prune, sample_stack
from stacks.render import secret_mask
from stacks.seams import broker, live

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 3


def probe(url):
    try:
        resp = requests.get(url, timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return False, f"{exc.__class__.__name__}"
    return resp.ok, f"HTTP {resp.status_code}"


def _summary(h):
    parts = [h.state]
    if h.docker_health:
        parts.append(h.docker_health)
    if h.probe_ok is not None:
        parts.append("probe ok" if h.probe_ok else f"probe failed ({h.probe_detail})")
    return ", ".join(parts)


REPLICA_KEYS = ("name", "number", "state", "health", "health_output", "node", "desired", "error")


MASKED_KEYS = ("health_output", "error")  # text a container wrote: it may quote a secret


def replicas(rows, mask=None):
    """What the stack page shows of each container or task: the status rows less
    what changes on every poll or only the command line needs; with `mask`, the
    text containers wrote has the stack's secrets hidden."""
    shown = [{k: r.get(k, "") for k in REPLICA_KEYS} for r in rows]
    if mask is not None:
        for r in shown:
            for k in MASKED_KEYS:
                r[k] = mask(r[k]) if r[k] else r[k]
    return shown


UNSPECIFIED = ("", "0.0.0.0", "::")


def endpoint(svc, rows, engine):
    """http://HOST:PORT where the service's UI port is published by a running
    container (or task) the panel deployed for it, as the engine reports it:
    rows are the backend's status, found by the stack's Compose (or Swarm)
    labels. "" when none runs or none publishes that port. The rows' own
    ports never make an address: a port nothing of ours publishes is never asked."""
    if not svc.ui_port:
        return ""
    for r in rows:
        if r["service"] != svc.name or r["state"] != "running":
            continue
        for ip, public, private, proto in r.get("published") or []:
            if str(private) != str(svc.ui_port) or proto != "tcp" or not public:
                continue
            # Every address, a loopback one (the panel in a container reaches the host's as
            # STACKS_HOST) or another host's engine: where its published ports answer.
            if ip in UNSPECIFIED or ip.startswith("127.") or ip == "::1" or \
                    engine.docker_host.startswith(("tcp://", "ssh://")):
                host = engine.published_host
            else:
                host = ip
            return f"http://{f'[{host}]' if ':' in host else host}:{int(public)}"
    return ""


def poll_stack(stack, rows):
    """rows: the backend's status() for the stack. Returns the stack's services
    (read once per poll; the resource sampling reuses them)."""
    services = list(stack.services.all())
    existing = {h.service_id: h for h in ServiceHealth.objects.filter(service__in=services)}
    endpoints = {svc.pk: endpoint(svc, rows, stack.engine) for svc in services}
    probes = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for svc in services:
            if endpoints[svc.pk] and svc.probe_path:
                probes[svc.pk] = pool.submit(probe, endpoints[svc.pk] + svc.probe_path)
    now, changed = timezone.now(), False
    # Secrets are read only when a container wrote something the page would show.
    wrote = any(r.get(k) for r in rows for k in MASKED_KEYS) or probes
    mask = secret_mask(stack) if wrote else None
    for svc in services:
        mine = [r for r in rows if r["service"] == svc.name]
        h = existing.get(svc.pk) or ServiceHealth(service=svc)
        before = _summary(h) if h.pk else None
        h.running = sum(1 for r in mine if r["state"] == "running")
        h.state = "missing" if not mine else ("running" if h.running else mine[0]["state"])
        healths = {r["health"] for r in mine if r["health"]}
        h.docker_health = "unhealthy" if "unhealthy" in healths else ("starting" if "starting" in healths else
                                                                        ("healthy" if healths else ""))
        if svc.pk in probes and h.running:
            h.probe_ok, h.probe_detail = probes[svc.pk].result()
            h.probe_detail = mask(h.probe_detail)
        else:
            h.probe_ok, h.probe_detail = None, ""
        h.replicas = replicas(mine, mask)
        h.endpoint = endpoints[svc.pk]
        h.checked = now
        after = _summary(h)
        if after != before:
            h.changed = now
            HealthChange.objects.create(service=svc, summary=after)
            changed = True
        h.save()
    if changed:  # open pages refresh now; an unchanged poll costs them nothing
        live.publish(*live.stack_topics(stack.slug))
    return services


def poll_all(engine=None):
    """Every stack (of one engine, when given): the engine's view of its containers
    fetched concurrently, then probes (concurrent per stack) and the rows written
    by this thread."""
    stacks = list(Stack.objects.select_related("engine").filter(**({"engine": engine} if engine else {})))

    def status(stack):
        try:
            with using(stack.engine):
                return get_backend(stack.engine.backend).status(stack.slug)
        except EngineError as exc:
            log.warning("Health poll of %s: %s", stack.slug, exc)
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, stacks))
    for stack, rows in zip(stacks, statuses):
        if rows is not None:
            services = poll_stack(stack, rows)
            with using(stack.engine):  # stats come from the stack's own engine
                sample_resources(stack, rows, services)
    prune_resources()


def sample_resources(stack, rows, services):
    """CPU and memory for the stack page's graphs (stacks.monitoring.resources): one stats
    call per running container. A failure here never fails the health poll."""
    # A Swarm task's figures are its container's, which only its own node answers
    # for: the tasks on the node this engine is (stacks.engine.swarm.status).
    rows = [dict(r, id=r["container"]) for r in rows if r["container"]] if stack.engine.swarm else rows
    try:
        sample_stack(stack, rows, services)
    except Exception as exc:  # noqa: BLE001
        log.warning("Resource sampling of %s: %s", stack.slug, exc)


def prune_resources():
    prune()


UNMANAGED_TTL = 120  # seconds: a few polls; an engine no longer polled drops off the list


def _unmanaged_key(engine):
    return f"panel:unmanaged:{engine.name}"


def unmanaged_projects():
    """[{"project", "working_dir", "services", "containers"}] running on the engine
    with no stack of that name. Raises EngineError when the engine is unreachable."""
    managed = set(Stack.objects.values_list("slug", flat=True))
    out = []
    for name, p in sorted(compose_projects().items()):
        if name in managed:
            continue
        out.append({"project": name, "working_dir": p["working_dir"], "services": sorted(p["services"]),
                    "containers": sum(len(cs) for cs in p["services"].values())})
    return out


def note_unmanaged(engine):
    """The Compose projects running on the engine that no stack manages, kept in
    Redis for the overview's adopt list: the web process never asks an engine."""
    try:
        with using(engine):
            projects = unmanaged_projects()
    except EngineError as exc:
        log.warning("Listing the projects on %s: %s", engine.name, exc)
        return
    try:
        broker.put(_unmanaged_key(engine), json.dumps(projects), UNMANAGED_TTL)
    except broker.BrokerError as exc:
        log.warning("Keeping the projects on %s: %s", engine.name, exc)


def unmanaged(engines):
    """[project dict with its "engine"] that the pollers noted on these engines,
    less those a stack has managed since: one Redis read and one query."""
    try:
        noted = broker.get_many([_unmanaged_key(e) for e in engines])
    except broker.BrokerError:
        return []
    found = [dict(p, engine=e) for e, raw in zip(engines, noted) if raw for p in json.loads(raw)]
    managed = set(Stack.objects.filter(slug__in=[p["project"] for p in found]).values_list("slug", flat=True))
    seen, out = set(), []
    for p in found:  # two engine rows may name one daemon: its projects once
        key = (p["engine"].docker_host, p["project"])
        if p["project"] not in managed and key not in seen:
            seen.add(key)
            out.append(p)
    return out


def poll_one(stack):
    with using(stack.engine):
        rows = get_backend(stack.engine.backend).status(stack.slug)
    poll_stack(stack, rows)
