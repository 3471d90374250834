#!/usr/bin/env python
"""Webhook throughput: alerts/s and p50/p99 latency for payloads of 1 and of 100
alerts into PostgreSQL (gunicorn, 2 workers), side by side with a no-op Django
view on the same server, with 50 stacks × 10 services to link alerts to and the
token generated per install (the default: no PANEL_WEBHOOK_TOKEN).

    .venv/bin/python bench/webhook.py [--seconds 8] [--clients 8] [--rounds 5]

Each round compares the two on fresh alerts; the median of the rounds' ratios is
the figure, steady on a shared machine where one round can be unlucky.
Targets: single-alert deliveries ≥ 0.6× the no-op view's requests/s; 100-alert
payloads ≥ 0.3× its alerts/s."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, drop_pg_database, ensure_pg_database, setup  # noqa: E402

PORT = 28765
SLICES = 4  # alternating slices of each view per round


def payload(n, tag):
    return json.dumps({
        "version": "4", "groupKey": f"{{}}:{{b=\"{tag}\"}}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "panel", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": f"Bench{i % 10}", "severity": "warning",
                                                   "instance": f"host{i}:9100", "job": "node",
                                                   "stack": f"stack{i % 50:02d}", "service": f"svc{i % 10}"},
                    "annotations": {"summary": "bench"}, "startsAt": "2026-11-24T10:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                    "fingerprint": uuid.uuid4().hex[:16]} for i in range(n)]})


def load(url, bodies_per_client, seconds, token):
    """Each client posts its own bodies in turn for `seconds`: (requests, elapsed, latencies, errors)."""
    latencies, errors = [], []
    deadline = time.perf_counter() + seconds

    def worker(bodies):
        s = requests.Session()
        i = 0
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            r = s.post(url, data=bodies[i % len(bodies)], timeout=30,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors.append(r.status_code)
            i += 1

    threads = [threading.Thread(target=worker, args=(bodies,)) for bodies in bodies_per_client]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), time.perf_counter() - start, latencies, len(errors)


def measure(base, n_alerts, seconds, clients, token, tag):
    """One round: the webhook and the no-op view in alternating slices, so that
    load from elsewhere on the machine falls on both alike. Each client delivers
    its own groups in turn, as Alertmanager does (one delivery of a group at a
    time), fresh fingerprints every round: a group's first delivery inserts its
    alerts, the later ones repeat them."""
    groups = [[payload(n_alerts, f"{tag}-{c}-{i}") for i in range(25)] for c in range(clients)]
    totals = {url: [0, 0.0, [], 0] for url in ("/webhooks/alertmanager/", "/bench/noop/")}
    for _ in range(SLICES):
        for url, total in totals.items():
            count, elapsed, latencies, errors = load(base + url, groups, seconds / SLICES, token)
            total[0] += count
            total[1] += elapsed
            total[2] += latencies
            total[3] += errors
    out = []
    for count, elapsed, latencies, errors in totals.values():
        latencies.sort()
        out.append({"requests": count, "alerts_s": count * n_alerts / elapsed,
                    "p50": latencies[len(latencies) // 2] * 1000, "p99": latencies[int(len(latencies) * 0.99)] * 1000,
                    "errors": errors})
    return out


def rounds(base, n_alerts, args, token):
    """[(webhook, no-op, ratio)] per round; the median ratio is the figure."""
    out = []
    for r in range(args.rounds):
        hook, noop = measure(base, n_alerts, args.seconds, args.clients, token, f"{n_alerts}-{r}")
        out.append((hook, noop, hook["alerts_s"] / noop["alerts_s"]))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8, help="per round, for each of the two views")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100], help="alerts per payload")
    parser.add_argument("--db", default="panel_bench_webhook")
    args = parser.parse_args()
    db = ensure_pg_database(args.db)
    os.environ.pop("PANEL_WEBHOOK_TOKEN", None)
    setup(db)
    from stacks.accounts.tokens import webhook_token
    from stacks.models import Service, Stack

    token = webhook_token()
    stacks = Stack.objects.bulk_create([Stack(slug=f"stack{i:02d}", name=f"Stack {i}") for i in range(50)])
    Service.objects.bulk_create([Service(stack=s, name=f"svc{j}", image="img") for s in stacks for j in range(10)])
    env = {**os.environ, "DATABASE_URL": db, "ROOT_URLCONF": "noop_urls",
           "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}", "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "600"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "controlpanel.wsgi", "-b", f"127.0.0.1:{PORT}",
                               "-w", "2", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{PORT}"
        for _ in range(100):
            try:
                requests.get(base + "/bench/noop/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        results = {n: rounds(base, n, args, token) for n in args.sizes}
        print(f"gunicorn 2 workers, PostgreSQL, {args.clients} clients on this machine; per round "
              f"{args.seconds:.0f}s of each in {SLICES} alternating slices; {args.rounds} rounds")
        print(f"{'round':<7}{'':<28}{'req':>8}{'alerts/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}")
        for n, per_round in results.items():
            body = f"{n}-alert body"
            for r, (hook, noop, ratio) in enumerate(per_round, 1):
                for name, row, shown in ((f"webhook, {body}", hook, f"{ratio:.2f}"), (f"no-op view, {body}", noop, "")):
                    print(f"{r:<7}{name:<28}{row['requests']:>8}{row['alerts_s']:>11.0f}{row['p50']:>9.1f}"
                          f"{row['p99']:>9.1f}{row['errors']:>8}{shown:>8}")
        errors = sum(h["errors"] + n["errors"] for per_round in results.values() for h, n, _r in per_round)
        for n, target in ((1, 0.6), (100, 0.3)):
            if n in results:
                median = statistics.median(ratio for _h, _n, ratio in results[n])
                what = "1 alert (requests/s" if n == 1 else f"{n} alerts (alerts/s"
                print(f"median ratio, {what} vs no-op): {median:.2f}  (target ≥ {target})")
        if errors:
            print(f"{errors} requests failed: the figures do not count")
    finally:
        server.terminate()
        server.wait(10)
        drop_pg_database(args.db)


if __name__ == "__main__":
    main()
