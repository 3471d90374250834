#!/usr/bin/env python
"""Server time per page with a small and a large alert history, same run, same
stacks and the same firing alerts (PostgreSQL), measured in-process through
Django's test client: the view, its queries and template rendering, no network.

    .venv/bin/python bench/pages.py [--small 1000] [--large 1000000] [--runs 20]

Prints each page's median at both history sizes and their ratio (target ≤ 1.5),
then the overview with --many-stacks stacks against --stacks (target < 10×).
The history is written with INSERT … SELECT generate_series: a million alerts
in a few minutes rather than an hour of ORM inserts."""
import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import drop_pg_database, ensure_pg_database, setup  # noqa: E402

# History alerts g = lo…hi, resolved, one every 7 s back from `newest`; one
# delivery per 100 of them, listing its alerts. The same shares at every size, so
# that each page shows as many rows with 1,000 stored alerts as with 1,000,000:
# every 5th alert is on the focus stack (a full page of its own), the rest spread
# over all services; a summary names one of seven words (a search for one of them
# matches a seventh of the history); half are warnings; 11 of 40 names start
# with "Alert1".
HISTORY = """
WITH stored AS (
  INSERT INTO stacks_alert (fingerprint, starts_at, ends_at, status, name, severity, labels, annotations,
                            generator_url, search_text, stack_id, service_id, first_received, last_received,
                            resolved_at)
  SELECT lpad(to_hex(g), 16, '0'), t, t + interval '5 minutes', 'resolved', 'Alert' || mod(g, 40),
         CASE WHEN mod(g, 2) = 0 THEN 'critical' ELSE 'warning' END,
         jsonb_build_object('alertname', 'Alert' || mod(g, 40), 'instance', 'h' || mod(g, 300) || ':9100',
                            'job', 'node'),
         jsonb_build_object('summary', summary), '',
         lower(concat_ws(E'\\n', 'Alert' || mod(g, 40), summary, 'h' || mod(g, 300) || ':9100', 'node')),
         %(first_stack)s + (service - %(first_service)s) / %(per_stack)s, service,
         t, t + interval '5 minutes', t + interval '5 minutes'
  FROM generate_series(%(lo)s, %(hi)s) AS g,
       LATERAL (SELECT %(newest)s::timestamptz - g * interval '7 seconds' AS t,
                       'summary ' || (ARRAY['cpu', 'memory', 'network', 'latency', 'errors', 'queue', 'swap'])[
                           1 + mod(g, 7)] || ' ' || g AS summary,
                       CASE WHEN mod(g, 5) = 0 THEN %(focus_service)s + mod(g / 5, %(per_stack)s)
                            ELSE %(first_service)s + mod(g, %(services)s) END AS service) AS s
  RETURNING id, ('x' || fingerprint)::bit(64)::bigint / 100 AS batch)
INSERT INTO stacks_alertdelivery (receiver, group_key, status, received_at, alert_count, truncated, alert_ids)
SELECT 'panel', 'bench:' || batch, 'resolved', %(newest)s::timestamptz - batch * interval '700 seconds', count(*), 0,
       jsonb_agg(id ORDER BY id)
FROM stored GROUP BY batch
"""
FOCUS = 7  # the stack whose pages are measured


def build_world(n_stacks, n_services, first_index=0):
    from stacks.models import Deployment, DeploymentStep, Service, ServiceHealth, Stack

    stacks = Stack.objects.bulk_create([Stack(slug=f"stack{i:03d}", name=f"Stack {i}")
                                        for i in range(first_index, first_index + n_stacks)])
    services = Service.objects.bulk_create([
        Service(stack=s, name=f"svc{j}", image="img", ui_name="UI" if j < 2 else "", ui_port=80,
                ports=[f"127.0.0.1:{10000 + (first_index + i) * 20 + j}:80"], probe_path="/health")
        for i, s in enumerate(stacks) for j in range(n_services)])
    ServiceHealth.objects.bulk_create([ServiceHealth(service=s, state="running", docker_health="healthy",
                                                     probe_ok=True) for s in services])
    deployments = Deployment.objects.bulk_create([Deployment(stack=s, status="succeeded") for s in stacks
                                                  for _ in range(5)])
    DeploymentStep.objects.bulk_create([DeploymentStep(deployment=d, message=f"step {k}") for d in deployments
                                        for k in range(10)])
    return stacks, services, deployments


def add_history(cursor, lo, hi, newest, stacks, services):
    per_stack = len(services) // len(stacks)
    params = {"lo": lo, "hi": hi, "newest": newest, "first_stack": stacks[0].pk, "first_service": services[0].pk,
              "services": len(services), "per_stack": per_stack, "focus_service": services[FOCUS * per_stack].pk}
    for start in range(lo, hi + 1, 200_000):
        cursor.execute(HISTORY, {**params, "lo": start, "hi": min(hi, start + 199_999)})


def use(name):
    """Point Django's connection at another of the bench's databases."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def measure(clients, pages, runs):
    """Each page in every database, taking turns run by run, so that load from
    elsewhere on the machine falls on all alike: {db: {page: (median ms, queries)}}."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = {db: {name: [] for name in pages} for db in clients}
    queries = {db: {} for db in clients}
    rows = {db: {} for db in clients}
    for name, url in pages.items():
        headers = {"HTTP_HX_REQUEST": "true"} if name.endswith("(htmx)") else {}
        for _ in range(runs):
            for db, client in clients.items():
                use(db)
                client.get(url, **headers)  # a fresh connection warms up first
                t = time.perf_counter()
                with CaptureQueriesContext(connection) as q:
                    r = client.get(url, **headers)
                times[db][name].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (db, url, r.status_code)
                queries[db][name] = len(q)
                rows[db][name] = r.content.count(b'<tr class="alert ')
    return {db: {name: (statistics.median(t), queries[db][name], rows[db][name]) for name, t in by_page.items()}
            for db, by_page in times.items()}


def build(db, args, history):
    """A database with the bench's stacks, services, deployments and firing
    alerts (the same rows, the same ids in every database) and `history`
    resolved alerts; returns a logged-in client and the pages to measure."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from stacks.models import Alert, AlertDelivery

    use(db)
    call_command("migrate", verbosity=0)
    stacks, services, deployments = build_world(args.stacks, args.services)
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    firing = []
    for i in range(args.firing):
        svc = services[(i * 7) % len(services)]
        labels = {"alertname": f"Firing{i % 20}", "instance": f"web{i}:9100", "job": "app", "severity": "critical"}
        annotations = {"summary": f"disk full on web{i}"}
        firing.append(Alert(fingerprint=f"f{i:015x}", starts_at=now - timedelta(seconds=i), name=labels["alertname"],
                            status="firing", severity="critical", labels=labels, annotations=annotations,
                            stack_id=svc.stack_id, service=svc,
                            search_text=Alert.make_search_text(labels, annotations)))
    firing = Alert.objects.bulk_create(firing)
    AlertDelivery.objects.bulk_create([AlertDelivery(receiver="panel", group_key="g", status="firing", alert_count=1,
                                                     alert_ids=[a.pk]) for a in firing])
    with connection.cursor() as cursor:
        if history:
            add_history(cursor, 1, history, now - timedelta(hours=1), stacks, services)
    with connection.cursor() as cursor:  # as autovacuum leaves a table that grew: statistics, visibility map
        cursor.execute("VACUUM ANALYZE")
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))
    old = Alert.objects.filter(status="resolved").order_by("-starts_at").first()
    focus = f"stack{FOCUS:03d}"
    pages = {
        "overview": "/", "overview (htmx)": "/", "stack": f"/stacks/{focus}/", "timeline": f"/stacks/{focus}/timeline/",
        "alerts": "/alerts/", "alerts ?status=firing": "/alerts/?status=firing",
        "alerts ?status=resolved": "/alerts/?status=resolved", "alerts ?severity=warning": "/alerts/?severity=warning",
        f"alerts ?stack={focus}": f"/alerts/?stack={focus}",
        "search: disk web1 (firing)": "/alerts/?q=disk+web1", "search: summary latency": "/alerts/?q=summary+latency",
        "search: alert1 +resolved": "/alerts/?q=alert1&status=resolved",
        "alert detail (firing)": f"/alerts/{firing[0].pk}/", "alert detail (resolved)": f"/alerts/{old.pk}/",
        "deployment": f"/deployments/{deployments[0].pk}/",
    }
    return client, pages, Alert.objects.count()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--firing", type=int, default=200)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--many-stacks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", default="panel_bench_pages")
    parser.add_argument("--keep", action="store_true", help="keep the databases (to look at plans)")
    args = parser.parse_args()
    small_db, large_db, many_db = (f"{args.db}_{n}" for n in ("small", "large", "many"))
    for name in (small_db, large_db, many_db):
        ensure_pg_database(name)
    setup(f"postgres://postgres@127.0.0.1:5432/{small_db}")

    t0 = time.perf_counter()
    small_client, pages, n_small = build(small_db, args, args.small - args.firing)
    many_client, _, _ = build(many_db, args, args.small - args.firing)
    build_world(args.many_stacks - args.stacks, args.services, first_index=args.stacks)
    print(f"{args.stacks} stacks × {args.services} services, {args.firing} firing alerts; "
          f"small databases built in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    large_client, large_pages, n_large = build(large_db, args, args.large - args.firing)
    assert large_pages == pages, "the databases should hold the same rows under the same ids"
    print(f"large history built in {time.perf_counter() - t0:.1f}s")

    result = measure({small_db: small_client, large_db: large_client}, pages, args.runs)
    small, large = result[small_db], result[large_db]
    print(f"\nmedian server ms of {args.runs} runs, the databases taking turns; queries per page")
    print(f"{'page':<32}{n_small:>10,} alerts{n_large:>12,} alerts{'ratio':>8}  queries  alert rows shown"
          "  (target ratio ≤ 1.5)")
    worst = 0
    for name in pages:
        (s, qs, rs), (lg, ql, rl) = small[name], large[name]
        worst = max(worst, lg / s)
        print(f"{name:<32}{s:>14.1f}{lg:>18.1f}{lg / s:>8.2f}  {qs:>3}/{ql:<3}    {rs:>3}/{rl:<3}")
    print(f"{'worst ratio':<32}{'':>32}{worst:>8.2f}")

    result = measure({small_db: small_client, many_db: many_client}, {"overview": "/"}, args.runs)
    base, many = result[small_db]["overview"][:2], result[many_db]["overview"][:2]
    print(f"\noverview with {args.stacks} stacks: {base[0]:.1f} ms; with {args.many_stacks}: {many[0]:.1f} ms; "
          f"ratio {many[0] / base[0]:.2f} (target < 10); queries {base[1]}/{many[1]}")
    if not args.keep:
        for name in (small_db, large_db, many_db):
            drop_pg_database(name)


if __name__ == "__main__":
    main()
