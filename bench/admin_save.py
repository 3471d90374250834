#!/usr/bin/env python
"""Admin save time (the form validates the whole stack with promtool, amtool,
the Compose schema and the cross-stack checks) with the three default stacks,
then with 500 other stacks, one of them carrying a 2 MB file (PostgreSQL).

    .venv/bin/python bench/admin_save.py [--stacks 500] [--runs 10]

Target: under 0.5 s with 500 other stacks, about the same as with none."""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ensure_pg_database, setup  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--db", default="panel_bench_admin")
    args = parser.parse_args()
    setup(ensure_pg_database(args.db))
    from django.contrib.auth.models import User
    from django.test import Client

    from stacks.defaults import load_defaults
    from stacks.models import Service, Stack, StackFile

    load_defaults()
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))
    svc = Service.objects.get(stack__slug="monitoring", name="grafana")
    fields = {f.name: getattr(svc, f.name) for f in Service._meta.fields if f.name != "id"}
    form = {k: (json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v)) for k, v in fields.items()}
    form["stack"] = svc.stack_id
    url = f"/admin/stacks/service/{svc.pk}/change/"

    def save(i):
        data = dict(form, environment=json.dumps({**svc.environment, "BENCH_RUN": str(i)}))
        t = time.perf_counter()
        r = client.post(url, data)
        elapsed = time.perf_counter() - t
        assert r.status_code == 302, r.content.decode()[:3000]
        return elapsed

    save(-1)
    alone = [save(i) for i in range(args.runs)]

    t0 = time.perf_counter()
    others = Stack.objects.bulk_create([Stack(slug=f"other{i:03d}", name=f"Other {i}") for i in range(args.stacks)])
    Service.objects.bulk_create([Service(stack=s, name=f"web{j}", image="nginx", networks=["default"],
                                         ports=[f"127.0.0.1:{20000 + i * 5 + j}:80"])
                                 for i, s in enumerate(others) for j in range(5)])
    StackFile.objects.create(stack=others[0], path="data/big.json", content=json.dumps(["x" * 1000] * 2000))
    built = time.perf_counter() - t0
    first = save(-2)  # derives the 500 new stacks' footprints, once
    crowded = [save(i) for i in range(args.runs)]

    a, c = statistics.median(alone), statistics.median(crowded)
    print(f"admin save of a service (median of {args.runs}), seconds; {args.stacks} stacks built in {built:.1f}s")
    print(f"{'with the 3 default stacks':<44}{a:>8.3f}")
    print(f"{f'with {args.stacks} more stacks, one of 2 MB':<44}{c:>8.3f}   ratio {c / a:.2f}  (target < 0.5 s)")
    print(f"{'first save after they appeared (footprints)':<44}{first:>8.3f}")


if __name__ == "__main__":
    main()
