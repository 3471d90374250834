"""CPU and memory per service, from the Docker engine's own stats (no cAdvisor
needed): the health poller takes one one-shot stats call per running container,
and keeps one compact row per service and poll for RESOURCE_SAMPLE_HOURS."""
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from stacks.engine.client import client, explain
from stacks.engine.errors import EngineError
from stacks.models import ResourceSample

log = logging.getLogger(__name__)


def memory_in_use(mem):
    """What `docker stats` shows: usage minus the page cache the kernel can drop
    (cgroup v1 names it total_inactive_file, v2 inactive_file)."""
    usage = mem.get("usage") or 0
    stats = mem.get("stats") or {}
    return max(0, usage - stats.get("total_inactive_file", stats.get("inactive_file", 0)))


def container_stats(container_ids):
    """{id: (cpu_ns, mem_bytes)} for the containers that answered. One API call
    each; one-shot, so the engine does not wait a second for a second reading."""
    api = client().api

    def one(cid):
        try:
            s = api.stats(cid, stream=False, one_shot=True)
        except Exception as exc:  # noqa: BLE001 — a container that just stopped
            log.info("Stats of %s: %s", cid, explain(exc))
            return cid, None
        cpu = ((s.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
        return cid, (int(cpu), memory_in_use(s.get("memory_stats") or {})) if cpu is not None else None

    if not container_ids:
        return {}
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return {cid: v for cid, v in pool.map(one, container_ids) if v is not None}
    except EngineError:
        return {}


def sample_stack(stack, rows, services, now=None):
    """rows: stack_status() output. Writes one ResourceSample per service with a
    running container; returns them."""
    now = now or timezone.now()
    running = [r for r in rows if r["state"] == "running"]
    stats = container_stats([r["id"] for r in running])
    by_name = {s.name: s for s in services}
    totals = {}
    for r in running:
        svc = by_name.get(r["service"])
        if svc is None or r["id"] not in stats:
            continue
        cpu, mem = stats[r["id"]]
        t = totals.setdefault(svc.pk, [0, 0, 0])
        t[0] += cpu
        t[1] += mem
        t[2] += 1
    samples = [ResourceSample(service_id=pk, at=now, cpu_ns=c, mem_bytes=m, containers=n)
               for pk, (c, m, n) in totals.items()]
    return ResourceSample.objects.bulk_create(samples)


def prune(now=None):
    """Drop samples older than the retention (a single DELETE: nothing refers to them)."""
    now = now or timezone.now()
    ResourceSample.objects.filter(at__lt=now - timedelta(hours=settings.RESOURCE_SAMPLE_HOURS)).delete()


def series(services, since):
    """{service_id: {"t": [unix s], "cpu": [% of one core], "mem": [bytes]}}, one
    query for all the services. CPU is the rate between consecutive samples;
    None where a container restarted or the number of containers changed."""
    out = {s.pk: {"t": [], "cpu": [], "mem": []} for s in services}
    last = {}
    rows = (ResourceSample.objects.filter(service__in=list(out), at__gte=since)
            .order_by("service_id", "at").values_list("service_id", "at", "cpu_ns", "mem_bytes", "containers"))
    for sid, at, cpu_ns, mem, n in rows:
        prev = last.get(sid)
        cpu = None
        if prev is not None and prev[2] == n:
            dt = (at - prev[0]).total_seconds()
            if dt > 0 and cpu_ns >= prev[1]:
                cpu = round((cpu_ns - prev[1]) / (dt * 1e9) * 100, 2)
        last[sid] = (at, cpu_ns, n)
        s = out[sid]
        s["t"].append(int(at.timestamp()))
        s["cpu"].append(cpu)
        s["mem"].append(mem)
    return out
