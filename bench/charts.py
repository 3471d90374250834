#!/usr/bin/env python
"""Server time of the graphs' JSON beside the page it draws on, with 50 stacks ×
10 services, an hour of CPU/memory samples every 15 s per service (6 h kept for
one stack), a day of health changes and alerts (PostgreSQL), in-process through
Django's test client.

    .venv/bin/python bench/charts.py [--runs 20]"""
import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ensure_pg_database, setup  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    setup(ensure_pg_database("panel_bench_charts"))
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from stacks.models import Alert, Deployment, HealthChange, ResourceSample, Service, ServiceHealth, Stack

    t0 = time.perf_counter()
    now = timezone.now()
    rnd = random.Random(1)
    stacks = Stack.objects.bulk_create([Stack(slug=f"stack{i:02d}", name=f"Stack {i}") for i in range(args.stacks)])
    services = Service.objects.bulk_create([Service(stack=s, name=f"svc{j}", image="img") for s in stacks
                                            for j in range(args.services)])
    ServiceHealth.objects.bulk_create([ServiceHealth(service=s, state="running") for s in services])
    for s in stacks:
        for k in range(6):
            d = Deployment.objects.create(stack=s, status="succeeded")
            Deployment.objects.filter(pk=d.pk).update(created=now - timedelta(hours=4 * k), started=now - timedelta(hours=4 * k))
    samples = []
    for svc in services:
        hours = 6 if svc.stack_id == stacks[7].pk else 1
        cpu = 0
        for i in range(hours * 240):
            cpu += rnd.randrange(10**8, 10**9)
            samples.append(ResourceSample(service=svc, at=now - timedelta(seconds=15 * i), cpu_ns=cpu,
                                          mem_bytes=rnd.randrange(10**7, 10**9)))
        if len(samples) > 20000:
            ResourceSample.objects.bulk_create(samples)
            samples = []
    ResourceSample.objects.bulk_create(samples)
    HealthChange.objects.bulk_create([
        HealthChange(service=svc, at=now - timedelta(minutes=72 * k), summary=rnd.choice(
            ["running, healthy", "exited", "running, probe failed (HTTP 500)", "running, probe ok"]))
        for svc in services for k in range(20)])
    Alert.objects.bulk_create([
        Alert(fingerprint=f"{i:016x}", starts_at=now - timedelta(seconds=4 * i), name=f"A{i % 30}",
              status="firing" if i % 100 == 0 else "resolved", resolved_at=None if i % 100 == 0 else
              now - timedelta(seconds=4 * i - 600), stack=stacks[i % len(stacks)]) for i in range(args.alerts)],
        batch_size=5000)
    with connection.cursor() as c:
        c.execute("ANALYZE")
    print(f"Data: {args.stacks} stacks × {args.services} services, {ResourceSample.objects.count()} samples, "
          f"{HealthChange.objects.count()} health changes, {Alert.objects.count()} alerts "
          f"(built in {time.perf_counter() - t0:.1f}s)")

    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))

    def measure(url):
        client.get(url)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                r = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (url, r.status_code)
        return statistics.median(times), len(q), len(r.content)

    pairs = [("stack page", "/stacks/stack07/", "its charts.json", "/stacks/stack07/charts.json"),
             ("overview page", "/", "charts/overview.json", "/charts/overview.json")]
    print(f"{'request':<24}{'median ms':>10}{'queries':>9}{'KiB':>8}{'JSON / page':>13}")
    for page_name, page_url, json_name, json_url in pairs:
        page = measure(page_url)
        data = measure(json_url)
        print(f"{page_name:<24}{page[0]:>10.1f}{page[1]:>9}{page[2] / 1024:>8.0f}")
        print(f"{json_name:<24}{data[0]:>10.1f}{data[1]:>9}{data[2] / 1024:>8.0f}{data[0] / page[0]:>12.2f}×")


if __name__ == "__main__":
    main()
