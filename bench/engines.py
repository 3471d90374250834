#!/usr/bin/env python
"""Many engines: the health poll and the overview with 100 engines × 10 stacks
(every engine a distinct URL of the same local daemon, so each has its own
client), side by side with the same 1,000 stacks on one engine.

The poll runs as the workers would: one poll_engine per engine (here in a thread
pool of --workers, standing in for that many worker processes), against the real
daemon. The overview is served in-process through Django's test client.

    .venv/bin/python bench/engines.py [--engines 100] [--stacks 10] [--workers 8]"""
import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ensure_pg_database, setup  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", type=int, default=100)
    parser.add_argument("--stacks", type=int, default=10, help="stacks per engine")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    setup(ensure_pg_database("panel_bench_engines"))
    import tempfile

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from stacks.models import Engine, Service, Stack
    from stacks.monitoring.health import poll_all

    links = Path(tempfile.mkdtemp(prefix="panel-bench-engines-"))
    for i in range(args.engines):  # a distinct address per engine, one daemon behind them all
        (links / f"{i}.sock").symlink_to("/var/run/docker.sock")
    engines = Engine.objects.bulk_create([
        Engine(name=f"e{i:03d}", docker_host=f"unix://{links}/{i}.sock") for i in range(args.engines)])
    total = args.engines * args.stacks
    stacks = Stack.objects.bulk_create([Stack(slug=f"s{i:04d}", name=f"S{i}", engine=engines[i // args.stacks])
                                        for i in range(total)])
    Service.objects.bulk_create([Service(stack=s, name="web", image="img", ports=[f"127.0.0.1:{20000 + i}:80"],
                                         ui_name="Web", ui_port=80) for i, s in enumerate(stacks)])
    local = Engine.objects.get(name="local")
    print(f"{args.engines} engines × {args.stacks} stacks = {total} stacks; poll with {args.workers} workers")

    def poll_per_engine():
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda e: (poll_all(e), connection.close()), engines))

    def poll_one_engine():
        poll_all(local)

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    poll_per_engine()  # warm: every engine's client built once, health rows exist
    many = statistics.median(timed(poll_per_engine) for _ in range(3))

    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.com", "pw"))

    def overview():
        times, queries = [], 0
        client.get("/")
        for _ in range(args.runs):
            t = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                assert client.get("/").status_code == 200
            times.append((time.perf_counter() - t) * 1000)
            queries = len(q)
        return statistics.median(times), queries

    over_many, q_many = overview()
    Stack.objects.update(engine=local)
    poll_one_engine()
    one = statistics.median(timed(poll_one_engine) for _ in range(3))
    over_one, q_one = overview()

    print(f"{'':<34}{f'{args.engines} engines':>14}{'1 engine':>12}{'ratio':>8}")
    print(f"{'health poll, all stacks (s)':<34}{many:>14.2f}{one:>12.2f}{many / one:>8.2f}")
    print(f"{'overview, median ms':<34}{over_many:>14.1f}{over_one:>12.1f}{over_many / over_one:>8.2f}")
    print(f"{'overview, queries':<34}{q_many:>14}{q_one:>12}")


if __name__ == "__main__":
    main()
