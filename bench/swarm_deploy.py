#!/usr/bin/env python
"""Swarm-mode deploy speed: the panel's Swarm backend against `docker stack deploy
--detach=false` (which also waits for the services to converge) on the same
rendered file and local images, on a single-node Swarm initialised here and left
again. Cold and no-op. Also a section of bench/deploy.py (--swarm).

docker stack deploy is given the rendered docker-compose.yml with the things
Swarm refuses taken out (a host IP on published ports, `host-gateway`, the
depends_on conditions its schema does not know; Swarm ignores depends_on), and
`--resolve-image never` as no registry is reachable.

    .venv/bin/python bench/swarm_deploy.py [--runs 3]

It takes /tmp/panel-heavy.lock, then /tmp/panel-swarm.lock (that order only; it
uses the heavy one when started under `flock /tmp/panel-heavy.lock`)."""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import HEAVY_LOCK, SWARM_LOCK, bench_django, demo_stack, locks, panel_deploy, print_table, write_bundle  # noqa: E402

PEER = "docker stack deploy"


def sh(*args, cwd=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def swarm_stack_file(stack, directory):
    """The rendered file, as `docker stack deploy` takes it."""
    write_bundle(stack, directory)
    doc = yaml.safe_load((directory / "docker-compose.yml").read_text())
    for spec in doc["services"].values():
        spec["ports"] = [p.split(":", 1)[1] if p.count(":") == 2 else p for p in spec.get("ports", [])]
        spec["ports"] = [p.replace("29190", "29290").replace("29193", "29293") for p in spec["ports"]]
        spec.pop("extra_hosts", None)
        spec.pop("depends_on", None)  # ignored by Swarm; its schema wants the old list form
    (directory / "stack.yml").write_text(yaml.safe_dump(doc))


def rm(name):
    subprocess.run(["docker", "stack", "rm", name], capture_output=True)
    while sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={name}").strip():
        time.sleep(0.2)
    while sh("docker", "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}").strip():
        time.sleep(0.2)


def swarm_results(runs, tmp):
    """{case: {"panel": […], PEER: […]}}, cold and no-op; Django set up already.
    Takes the heavy lock, then the swarm one, around all of it (`swarm init` … `leave`)."""
    with locks(HEAVY_LOCK, SWARM_LOCK):
        return _swarm_results(runs, tmp)


def _swarm_results(runs, tmp):
    from django.conf import settings

    from stacks.models import Engine

    settings.PANEL_SWARM_PUBLISH_MODE = "host"
    stack = demo_stack("benchswarm", 29190, 29193)
    stack.engine = Engine.objects.create(name="swarm", swarm=True)
    stack.save()
    compose_dir = tmp / "swarm-compose"
    swarm_stack_file(stack, compose_dir)

    def stack_deploy():
        t = time.perf_counter()
        sh("docker", "stack", "deploy", "--detach=false", "--resolve-image", "never", "-c", "stack.yml",
           "benchcli", cwd=compose_dir)
        return time.perf_counter() - t

    results = {f"swarm {k}": {"panel": [], PEER: []} for k in ("cold", "no-op")}
    was = sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if was != "active":
        sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        for _ in range(runs):
            rm("benchswarm")
            results["swarm cold"]["panel"].append(panel_deploy(stack))
            results["swarm no-op"]["panel"].append(panel_deploy(stack))
            rm("benchswarm")
            rm("benchcli")
            results["swarm cold"][PEER].append(stack_deploy())
            results["swarm no-op"][PEER].append(stack_deploy())
            rm("benchcli")
    finally:
        rm("benchswarm")
        rm("benchcli")
        if was != "active":
            sh("docker", "swarm", "leave", "--force")
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with bench_django("bench-swarm") as (tmp, _url):
        results = swarm_results(args.runs, tmp)
    print_table(f"Swarm deploy of the 4-service demo stack, median of {args.runs} runs, seconds "
                "(both wait for the tasks to run)", PEER, results)


if __name__ == "__main__":
    main()
