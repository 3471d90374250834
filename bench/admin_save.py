#!/usr/bin/env python
"""Admin save time (the form validates the whole stack with promtool, amtool,
the Compose schema and the cross-stack checks) with the three default stacks,
and with 500 other stacks besides, one of them carrying a 2 MB file
(PostgreSQL). The two databases take turns, save by save, so that load from
elsewhere on the machine falls on both alike.

    .venv/bin/python bench/admin_save.py [--stacks 500] [--runs 10]

Target: under 0.5 s with 500 other stacks, about the same as with none."""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import drop_pg_database, ensure_pg_database, setup  # noqa: E402


def use(name):
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def prepare(db, others):
    """The default stacks (+ `others` stacks of 5 services, the first with a 2 MB
    file); returns a function that saves Grafana's service through the admin."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from stacks.defaults import load_defaults
    from stacks.models import Service, Stack, StackFile

    use(db)
    call_command("migrate", verbosity=0)
    load_defaults()
    if others:
        stacks = Stack.objects.bulk_create([Stack(slug=f"other{i:03d}", name=f"Other {i}") for i in range(others)])
        Service.objects.bulk_create([Service(stack=s, name=f"web{j}", image="nginx", networks=["default"],
                                             ports=[f"127.0.0.1:{20000 + i * 5 + j}:80"])
                                     for i, s in enumerate(stacks) for j in range(5)])
        StackFile.objects.create(stack=stacks[0], path="data/big.json", content=json.dumps(["x" * 1000] * 2000))
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))
    svc = Service.objects.get(stack__slug="monitoring", name="grafana")
    fields = {f.name: getattr(svc, f.name) for f in Service._meta.fields if f.name != "id"}
    form = {k: (json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v)) for k, v in fields.items()}
    form["stack"] = svc.stack_id
    url = f"/admin/stacks/service/{svc.pk}/change/"

    def save(i):
        use(db)
        client.get("/admin/")  # a fresh connection warms up first
        data = dict(form, environment=json.dumps({**svc.environment, "BENCH_RUN": str(i)}))
        t = time.perf_counter()
        r = client.post(url, data)
        elapsed = time.perf_counter() - t
        assert r.status_code == 302, r.content.decode()[:3000]
        return elapsed

    return save


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--db", default="panel_bench_admin")
    args = parser.parse_args()
    alone_db, crowded_db = f"{args.db}_alone", f"{args.db}_crowded"
    for name in (alone_db, crowded_db):
        ensure_pg_database(name)
    setup(f"postgres://postgres@127.0.0.1:5432/{alone_db}")
    save_alone = prepare(alone_db, 0)
    save_crowded = prepare(crowded_db, args.stacks)
    save_alone(-1)
    first = save_crowded(-1)  # derives the new stacks' footprints, once
    alone, crowded = [], []
    for i in range(args.runs):
        alone.append(save_alone(i))
        crowded.append(save_crowded(i))

    a, c = statistics.median(alone), statistics.median(crowded)
    print(f"admin save of a service, median of {args.runs} (the two databases taking turns), seconds")
    print(f"{'with the 3 default stacks':<44}{a:>8.3f}")
    print(f"{f'with {args.stacks} more stacks, one of 2 MB':<44}{c:>8.3f}   ratio {c / a:.2f}  (target < 0.5 s)")
    print(f"{'first save after they appeared (footprints)':<44}{first:>8.3f}")
    for name in (alone_db, crowded_db):
        drop_pg_database(name)


if __name__ == "__main__":
    main()
