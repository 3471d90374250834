#!/usr/bin/env python
"""Deploy speed: the panel's engine against `docker-compose up -d` (Debian's
package), on the same rendered file and the same local images.

    .venv/bin/python bench/deploy.py [--runs 3]

Prints cold deploy, no-op redeploy and one-service-changed redeploy for both."""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    setup(f"sqlite:///{tmp / 'bench.sqlite3'}")
    from django.conf import settings

    settings.STACKS_DIR = tmp / "stacks"
    from stacks.engine.local_images import build_local_images
    from stacks.models import Deployment, Service
    from stacks.render import render_bundle
    from stacks.tasks import execute
    from stacks.defaults.demo import mini_monitoring

    import docker

    api = docker.from_env().api
    build_local_images(log=lambda *_: None)
    stack = mini_monitoring(slug="benchpanel", prom_port=29090, am_port=29093)

    def down(project):
        for c in api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"}):
            api.remove_container(c["Id"], force=True)
        for n in api.networks(filters={"label": f"com.docker.compose.project={project}"}):
            api.remove_network(n["Id"])

    def panel_deploy():
        d = Deployment.objects.create(stack=stack)
        t = time.perf_counter()
        execute(d)
        elapsed = time.perf_counter() - t
        d.refresh_from_db()
        assert d.status == "succeeded", d.error
        return elapsed

    compose_dir = tmp / "compose"

    def write_compose():
        for path, text in render_bundle(stack).files.items():
            (compose_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (compose_dir / path).write_text(text)

    def compose_up():
        t = time.perf_counter()
        subprocess.run(["docker-compose", "-p", "benchcompose", "up", "-d"], cwd=compose_dir, check=True,
                       capture_output=True)
        return time.perf_counter() - t

    results = {k: {"panel": [], "docker-compose": []} for k in ("cold", "no-op", "one changed")}
    for run in range(args.runs):
        Service.objects.filter(stack=stack, name="node-exporter").update(environment={})
        down("benchpanel")
        results["cold"]["panel"].append(panel_deploy())
        results["no-op"]["panel"].append(panel_deploy())
        Service.objects.filter(stack=stack, name="node-exporter").update(environment={"RUN": str(run)})
        results["one changed"]["panel"].append(panel_deploy())
        down("benchpanel")

        Service.objects.filter(stack=stack, name="node-exporter").update(environment={})
        write_compose()
        down("benchcompose")
        results["cold"]["docker-compose"].append(compose_up())
        results["no-op"]["docker-compose"].append(compose_up())
        Service.objects.filter(stack=stack, name="node-exporter").update(environment={"RUN": str(run)})
        write_compose()
        results["one changed"]["docker-compose"].append(compose_up())
        down("benchcompose")
    for vol in api.volumes(filters={"label": "com.docker.compose.project"}).get("Volumes") or []:
        if vol["Name"].startswith(("benchpanel_", "benchcompose_")):
            api.remove_volume(vol["Name"], force=True)

    print(f"Deploy of a 3-service monitoring stack (Prometheus, Alertmanager, node-exporter), "
          f"median of {args.runs} runs, seconds")
    print(f"{'':<14}{'panel':>10}{'docker-compose':>16}{'ratio':>8}")
    for case, r in results.items():
        p, c = statistics.median(r["panel"]), statistics.median(r["docker-compose"])
        print(f"{case:<14}{p:>10.3f}{c:>16.3f}{p / c:>8.2f}")


if __name__ == "__main__":
    main()
