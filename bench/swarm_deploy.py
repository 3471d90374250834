#!/usr/bin/env python
"""Swarm-mode deploy speed: the panel's Swarm backend against `docker stack deploy
--detach=false` (which also waits for the services to converge) on the same
rendered file and local images, on a single-node Swarm initialised here and left
again. Cold and no-op.

docker stack deploy is given the rendered docker-compose.yml with the two things
Swarm refuses taken out (a host IP on published ports, `host-gateway`, the
depends_on conditions its schema does not know; Swarm ignores depends_on), and
`--resolve-image never` as no registry is reachable.

    .venv/bin/python bench/swarm_deploy.py [--runs 3]"""
import argparse
import fcntl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup  # noqa: E402


def sh(*args, cwd=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    setup(f"sqlite:///{tmp / 'bench.sqlite3'}")
    from django.conf import settings

    settings.STACKS_DIR = tmp / "stacks"
    settings.PANEL_SWARM_PUBLISH_MODE = "host"
    from stacks.defaults.demo import mini_monitoring
    from stacks.engine.local_images import build_local_images
    from stacks.models import Deployment, Engine
    from stacks.render import render_bundle
    from stacks.tasks import execute

    build_local_images(log=lambda *_: None)
    stack = mini_monitoring(slug="benchswarm", prom_port=29190, am_port=29193)
    stack.engine = Engine.objects.create(name="swarm", swarm=True)
    stack.save()

    compose_dir = tmp / "compose"
    for path, text in render_bundle(stack).files.items():
        (compose_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (compose_dir / path).write_text(text)
    doc = yaml.safe_load((compose_dir / "docker-compose.yml").read_text())
    for spec in doc["services"].values():
        spec["ports"] = [p.split(":", 1)[1] if p.count(":") == 2 else p for p in spec.get("ports", [])]
        spec["ports"] = [p.replace("29190", "29290").replace("29193", "29293") for p in spec["ports"]]
        spec.pop("extra_hosts", None)
        spec.pop("depends_on", None)  # ignored by Swarm; its schema wants the old list form
    (compose_dir / "stack.yml").write_text(yaml.safe_dump(doc))

    def panel_deploy():
        d = Deployment.objects.create(stack=stack)
        t = time.perf_counter()
        execute(d)
        elapsed = time.perf_counter() - t
        d.refresh_from_db()
        assert d.status == "succeeded", d.error
        return elapsed

    def stack_deploy():
        t = time.perf_counter()
        sh("docker", "stack", "deploy", "--detach=false", "--resolve-image", "never", "-c", "stack.yml",
           "benchcli", cwd=compose_dir)
        return time.perf_counter() - t

    def rm(name):
        subprocess.run(["docker", "stack", "rm", name], capture_output=True)
        while sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={name}").strip():
            time.sleep(0.2)
        while sh("docker", "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}").strip():
            time.sleep(0.2)

    with open("/tmp/panel-swarm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was = sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").strip()
        if was != "active":
            sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        results = {k: {"panel": [], "docker stack deploy": []} for k in ("cold", "no-op")}
        try:
            for _ in range(args.runs):
                rm("benchswarm")
                results["cold"]["panel"].append(panel_deploy())
                results["no-op"]["panel"].append(panel_deploy())
                rm("benchswarm")
                rm("benchcli")
                results["cold"]["docker stack deploy"].append(stack_deploy())
                results["no-op"]["docker stack deploy"].append(stack_deploy())
                rm("benchcli")
        finally:
            rm("benchswarm")
            rm("benchcli")
            if was != "active":
                sh("docker", "swarm", "leave", "--force")
    print(f"Swarm deploy of a 3-service monitoring stack, median of {args.runs} runs, seconds "
          "(both wait for the tasks to run)")
    print(f"{'':<8}{'panel':>10}{'docker stack deploy':>22}{'ratio':>8}")
    for case, r in results.items():
        p, c = statistics.median(r["panel"]), statistics.median(r["docker stack deploy"])
        print(f"{case:<8}{p:>10.3f}{c:>22.3f}{p / c:>8.2f}")


if __name__ == "__main__":
    main()
