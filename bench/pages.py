#!/usr/bin/env python
"""Server time per page with 50 stacks × 10 services and 100,000 stored alerts
(PostgreSQL), measured in-process through Django's test client: the view, its
queries and template rendering, no network.

    .venv/bin/python bench/pages.py [--alerts 100000] [--runs 20]"""
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
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    setup(ensure_pg_database("panel_bench_pages"))
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from stacks.models import Alert, Deployment, DeploymentStep, Service, ServiceHealth, Stack

    t0 = time.perf_counter()
    stacks = Stack.objects.bulk_create([Stack(slug=f"stack{i:02d}", name=f"Stack {i}") for i in range(args.stacks)])
    services = Service.objects.bulk_create([
        Service(stack=s, name=f"svc{j}", image="img", ui_name="UI" if j < 2 else "", ui_port=80,
                ports=[f"127.0.0.1:{10000 + i * 20 + j}:80"], probe_path="/health")
        for i, s in enumerate(stacks) for j in range(args.services)])
    ServiceHealth.objects.bulk_create([ServiceHealth(service=s, state="running", docker_health="healthy",
                                                     probe_ok=True) for s in services])
    deployments = Deployment.objects.bulk_create([Deployment(stack=s, status="succeeded") for s in stacks
                                                  for _ in range(5)])
    DeploymentStep.objects.bulk_create([DeploymentStep(deployment=d, message=f"step {k}") for d in deployments
                                        for k in range(10)])
    now = timezone.now()
    rnd = random.Random(1)
    batch = []
    for i in range(args.alerts):
        svc = services[rnd.randrange(len(services))]
        labels = {"alertname": f"Alert{i % 40}", "instance": f"h{i % 300}:9100", "job": "node"}
        annotations = {"summary": f"summary {i}"}
        batch.append(Alert(fingerprint=f"{i:016x}", starts_at=now - timedelta(seconds=i), name=f"Alert{i % 40}",
                           status="firing" if i % 50 == 0 else "resolved", severity=rnd.choice(["critical", "warning"]),
                           labels=labels, annotations=annotations, stack_id=svc.stack_id, service=svc,
                           search_text=Alert.make_search_text(labels, annotations)))
        if len(batch) == 5000:
            Alert.objects.bulk_create(batch)
            batch = []
    Alert.objects.bulk_create(batch)
    with connection.cursor() as c:
        c.execute("ANALYZE")
    print(f"Data: {args.stacks} stacks × {args.services} services, {Alert.objects.count()} alerts "
          f"(built in {time.perf_counter() - t0:.1f}s)")

    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))
    alert = Alert.objects.filter(status="firing").first()
    pages = {
        "overview": "/", "overview (htmx fragment)": ("/", True), "stack": "/stacks/stack07/",
        "alerts": "/alerts/", "alerts ?status=firing": "/alerts/?status=firing",
        "alerts ?q=summary 99": "/alerts/?q=summary%2099", "alert detail": f"/alerts/{alert.pk}/",
        "deployment": f"/deployments/{deployments[0].pk}/",
    }
    print(f"{'page':<28}{'median ms':>10}{'p90 ms':>9}{'queries':>9}   (target < 50 ms)")
    for name, spec in pages.items():
        url, htmx = (spec, False) if isinstance(spec, str) else spec
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        client.get(url, **headers)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                r = client.get(url, **headers)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (url, r.status_code)
        times.sort()
        print(f"{name:<28}{statistics.median(times):>10.1f}{times[int(len(times) * 0.9)]:>9.1f}{len(q):>9}")


if __name__ == "__main__":
    main()
