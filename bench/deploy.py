#!/usr/bin/env python
"""Deploy speed: the panel against `docker-compose up -d` (Debian's package), on
the same rendered file and the same local images, in the same run.

    REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/deploy.py [--runs 3] [--no-browser]

Prints, each next to docker-compose with the ratio:
- the engine alone (in-process): cold, no-op, one service changed;
- the command line, a Celery worker doing the work: `stack deploy --wait` cold and
  no-op, `stack down` (waits), `stack list`;
- Chromium: click on the confirm button to the page showing "succeeded", for a
  no-op redeploy (against docker-compose's no-op `up -d`)."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, ensure_pg_database, setup  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    db_name = f"bench_deploy_{os.getpid()}"
    database_url = ensure_pg_database(db_name)
    os.environ["STACKS_DIR"] = str(tmp / "stacks")
    setup(database_url)
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

    Service.objects.filter(stack=stack, name="node-exporter").update(environment={})
    env = {**os.environ, "DATABASE_URL": database_url, "STACKS_DIR": str(settings.STACKS_DIR),
           "CELERY_TASK_DEFAULT_QUEUE": f"bench-{os.getpid()}", "PYTHONDONTWRITEBYTECODE": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "controlpanel", "worker", "-l", "warning",
                               "-P", "solo", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip",
                               "--without-mingle", "--without-heartbeat"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli_results(results, args.runs, env, down, write_compose, compose_dir)
        if not args.no_browser:
            browser_results(results, args.runs, env, stack, compose_up)
    finally:
        worker.terminate()
        worker.wait(30)
        down("benchpanel")
        down("benchcompose")
        from django.db import connections

        connections.close_all()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{db_name}"'],
                       capture_output=True)
    for vol in api.volumes(filters={"label": "com.docker.compose.project"}).get("Volumes") or []:
        if vol["Name"].startswith(("benchpanel_", "benchcompose_")):
            api.remove_volume(vol["Name"], force=True)

    print(f"Deploy of a 3-service monitoring stack (Prometheus, Alertmanager, node-exporter), "
          f"median of {args.runs} runs, seconds")
    print(f"{'':<34}{'panel':>10}{'docker-compose':>16}{'ratio':>8}")
    for case, r in results.items():
        p, c = statistics.median(r["panel"]), statistics.median(r["docker-compose"])
        print(f"{case:<34}{p:>10.3f}{c:>16.3f}{p / c:>8.2f}")


def timed(argv, env, cwd=ROOT):
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def cli_results(results, runs, env, down, write_compose, compose_dir):
    stack_cmd = [sys.executable, "manage.py", "stack"]
    compose = ["docker-compose", "-p", "benchcompose"]
    for key in ("cli: stack deploy --wait, cold", "cli: stack deploy --wait, no-op", "cli: stack down",
                "cli: stack list / docker-compose ps"):
        results[key] = {"panel": [], "docker-compose": []}
    write_compose()
    for _ in range(runs):
        down("benchpanel")
        results["cli: stack deploy --wait, cold"]["panel"].append(timed(stack_cmd + ["deploy", "benchpanel", "--wait"], env))
        results["cli: stack deploy --wait, no-op"]["panel"].append(timed(stack_cmd + ["deploy", "benchpanel", "--wait"], env))
        results["cli: stack list / docker-compose ps"]["panel"].append(timed(stack_cmd + ["list"], env))
        results["cli: stack down"]["panel"].append(timed(stack_cmd + ["down", "benchpanel"], env))
        down("benchcompose")
        results["cli: stack deploy --wait, cold"]["docker-compose"].append(timed(compose + ["up", "-d"], env, compose_dir))
        results["cli: stack deploy --wait, no-op"]["docker-compose"].append(timed(compose + ["up", "-d"], env, compose_dir))
        results["cli: stack list / docker-compose ps"]["docker-compose"].append(timed(compose + ["ps"], env, compose_dir))
        results["cli: stack down"]["docker-compose"].append(timed(compose + ["down"], env, compose_dir))


def browser_results(results, runs, env, stack, compose_up):
    import socket

    from django.contrib.auth.models import Group, User
    from playwright.sync_api import sync_playwright

    from stacks.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("bench", password="bench-pass-1234")
    user.groups.add(Group.objects.get(name="operators"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks",
                               f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    key = "browser: click Deploy to 'succeeded', no-op"
    results[key] = {"panel": [], "docker-compose": []}
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        assert timed([sys.executable, "manage.py", "stack", "deploy", stack.slug, "--wait"], env) > 0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page()
            page.set_default_timeout(30000)
            page.goto(base + "/accounts/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-pass-1234")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for _ in range(runs):
                page.goto(f"{base}/stacks/{stack.slug}/")
                page.click("#deploy")
                page.wait_for_selector("#confirm-deploy")
                t = time.perf_counter()
                page.click("#confirm-deploy")
                page.wait_for_selector("#deployment-status:has-text('succeeded')")
                results[key]["panel"].append(time.perf_counter() - t)
                results[key]["docker-compose"].append(compose_up())
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
