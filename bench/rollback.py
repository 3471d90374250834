#!/usr/bin/env python
"""A rollback beside a deploy of the same change, on the demo stack (local images).

    .venv/bin/python bench/rollback.py [--rounds 5]

The change: the alert rule's expression (a Prometheus reload) and node-exporter's
environment (one container recreated). Each round, interleaved: edit the rows to
the changed definition and deploy it (the deploy), then roll back to the first
deployment (the rollback: restore that definition as a new version, pin the
images it ran, plan, apply the same reload and recreate in the other direction).
Both are timed in this process, from the operation's start to its end (no worker
queue). Prints the medians side by side with their ratio."""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import HEAVY_LOCK, bench_django, demo_stack, locks, print_table, remove_compose_project  # noqa: E402

SLUG = "benchrollback"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with locks(HEAVY_LOCK), bench_django("bench-rollback"):
        run(args)


def run(args):
    import docker
    from django.db import transaction

    from stacks import versions
    from stacks.models import AlertRule, Deployment, Service, StackVersion
    from stacks.operations.execute import execute

    api = docker.from_env().api
    stack = demo_stack(SLUG, 29190, 29193)

    def operation(**options):
        with transaction.atomic():
            d = Deployment.objects.record(stack, "deploy", options=options)
        t = time.perf_counter()
        execute(d)
        elapsed = time.perf_counter() - t
        d.refresh_from_db()
        if d.status != "succeeded":
            raise SystemExit(f"#{d.pk} failed: {d.error}")
        return d, elapsed

    results = {"rule + environment change": {"panel": [], "deploy": []}}
    try:
        versions.record(stack, StackVersion.CLI)
        first, _ = operation()
        for n in range(args.rounds):
            AlertRule.objects.filter(stack=stack).update(expr=f"up < {n + 1}")
            Service.objects.filter(stack=stack, name="node-exporter").update(environment={"ROUND": str(n)})
            versions.record(stack, StackVersion.WEB)
            changed, deploy_s = operation()
            assert any(s.message.startswith("Reloaded prometheus") for s in changed.steps.all())
            rolled, rollback_s = operation(rollback_to=first.pk)
            assert any(s.message.startswith("Reloaded prometheus") for s in rolled.steps.all())
            results["rule + environment change"]["deploy"].append(deploy_s)
            results["rule + environment change"]["panel"].append(rollback_s)
            print(f"round {n + 1}: deploy {deploy_s:.3f}s, rollback {rollback_s:.3f}s", flush=True)
    finally:
        remove_compose_project(api, SLUG)
    print()
    print_table(f"Rollback (panel column) beside a deploy of the same change, median of {args.rounds} "
                "interleaved rounds, seconds", "deploy", results)


if __name__ == "__main__":
    main()
