#!/usr/bin/env python
"""Deploy speed: the panel against `docker-compose up -d` (Debian's 1.29), on the
same rendered 4-service file and the same local images, in the same run.

    REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/deploy.py [--runs 3] [--no-browser] [--swarm]

It takes /tmp/panel-heavy.lock (or uses it when started under `flock` on it), and
with --swarm /tmp/panel-swarm.lock too, after it, around the Swarm rows only. Prints, each next to its peer with the ratio:
- the engine alone (in-process): cold, no-op, one service changed;
- the command line, a Celery worker of the bench's own doing the work (it serves
  the bench's queues: its default one and its engine's, `bench-PID.engine.local`):
  `stack deploy --wait` cold and no-op, `stack down` (waits), `stack list`;
- Chromium: from the click on the confirm button to the page saying "succeeded",
  for a no-op redeploy (against docker-compose's no-op `up -d`); and from the
  click on "Deploy…" to the plan shown;
- with --swarm, the Swarm backend against `docker stack deploy` (bench/swarm_deploy.py)."""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import (  # noqa: E402
    HEAVY_LOCK,
    ROOT,
    bench_django,
    demo_stack,
    locks,
    panel_deploy,
    print_table,
    remove_compose_project,
    timed,
    write_bundle,
)

PEER = "docker-compose"
PANEL, COMPOSE = "benchpanel", "benchcompose"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--swarm", action="store_true", help="Add the Swarm rows (swarm init/leave here).")
    parser.add_argument("--verbose", "-v", action="store_true", help="Say where each browser run's time went.")
    parser.add_argument("--only", choices=["engine", "cli", "browser", "swarm"], action="append",
                        help="Run only these sections (repeatable).")
    args = parser.parse_args()
    args.sections = set(args.only or ["engine", "cli"] + ([] if args.no_browser else ["browser"])
                        + (["swarm"] if args.swarm else []))
    args.swarm = "swarm" in args.sections
    with locks(HEAVY_LOCK), bench_django("bench-deploy") as (tmp, url):
        run(args, tmp, url)


def run(args, tmp, database_url):
    import docker
    from django.conf import settings

    from stacks.models import Service

    queue = f"bench-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.PANEL_ENGINE_QUEUE_PREFIX = f"{queue}."  # the local engine's queue: bench-PID.engine.local
    from controlpanel.celery import app

    app.conf.task_default_queue = queue
    api = docker.from_env().api
    stack = demo_stack(PANEL, 29090, 29093)
    compose_dir = tmp / "compose"

    def compose(*argv):
        return timed(["docker-compose", "-p", COMPOSE, *argv], cwd=compose_dir)

    def set_run(value):
        Service.objects.filter(stack=stack, name="node-exporter").update(environment={"RUN": value} if value else {})

    engine = {k: {"panel": [], PEER: []} for k in ("engine: cold", "engine: no-op", "engine: one changed")}
    try:
        for run_number in range(args.runs if "engine" in args.sections else 0):
            set_run("")
            remove_compose_project(api, PANEL)
            engine["engine: cold"]["panel"].append(panel_deploy(stack))
            engine["engine: no-op"]["panel"].append(panel_deploy(stack))
            set_run(str(run_number))
            engine["engine: one changed"]["panel"].append(panel_deploy(stack))
            remove_compose_project(api, PANEL)

            set_run("")
            write_compose(stack, compose_dir)
            remove_compose_project(api, COMPOSE)
            engine["engine: cold"][PEER].append(compose("up", "-d"))
            engine["engine: no-op"][PEER].append(compose("up", "-d"))
            set_run(str(run_number))
            write_compose(stack, compose_dir)
            engine["engine: one changed"][PEER].append(compose("up", "-d"))
            remove_compose_project(api, COMPOSE)
        set_run("")
        write_compose(stack, compose_dir)
        assert same_containers(api, compose_dir), "docker-compose and the panel run different containers"

        env = {**os.environ, "DATABASE_URL": database_url, "STACKS_DIR": str(settings.STACKS_DIR),
               "CELERY_TASK_DEFAULT_QUEUE": queue, "PANEL_ENGINE_QUEUE_PREFIX": f"{queue}.",
               "PYTHONDONTWRITEBYTECODE": "1"}
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "controlpanel", "worker", "-l", "warning",
                                   "-P", "solo", "-Q", f"{queue},{queue}.engine.local", "--without-gossip",
                                   "--without-mingle", "--without-heartbeat"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(tmp / "worker.log", "w"),
                                  start_new_session=True)
        print(f"worker log: {tmp / 'worker.log'}", file=sys.stderr)
        try:
            cli = cli_results(args.runs, env, api, compose) if "cli" in args.sections else {}
            browser = browser_results(args.runs, env, stack, compose, args.verbose) if "browser" in args.sections else {}
        finally:
            worker.terminate()
            worker.wait(30)
        swarm = {}
        if args.swarm:
            from swarm_deploy import PEER as SWARM_PEER
            from swarm_deploy import swarm_results

            swarm = swarm_results(args.runs, tmp)
    finally:
        remove_compose_project(api, PANEL)
        remove_compose_project(api, COMPOSE)

    print_table(f"Deploy of the 4-service demo stack (Prometheus, Alertmanager, node-exporter, a replicated "
                f"exporter), median of {args.runs} runs, seconds", PEER, {**engine, **cli, **browser})
    if swarm:
        print()
        print_table(f"Swarm mode, median of {args.runs} runs, seconds (both wait for the tasks to run)",
                    SWARM_PEER, swarm)


def write_compose(stack, compose_dir):
    """The stack's rendered files for docker-compose, its published ports moved
    (28090, 28093) so that both projects can run side by side."""
    write_bundle(stack, compose_dir)
    path = compose_dir / "docker-compose.yml"
    path.write_text(path.read_text().replace(":29090:", ":28090:").replace(":29093:", ":28093:"))


def same_containers(api, compose_dir):
    """Both tools run the same number of containers per service from the file."""
    def count(project):
        found = api.containers(filters={"label": f"com.docker.compose.project={project}"})
        return sorted(c["Labels"]["com.docker.compose.service"] for c in found)

    from stacks.models import Stack

    panel_deploy(Stack.objects.get(slug=PANEL))
    timed(["docker-compose", "-p", COMPOSE, "up", "-d"], cwd=compose_dir)
    ok = count(PANEL) == count(COMPOSE)
    if not ok:
        print(f"panel runs {count(PANEL)}, docker-compose {count(COMPOSE)}", file=sys.stderr)
    return ok


def cli_results(runs, env, api, compose):
    stack_cmd = [sys.executable, "manage.py", "stack"]
    keys = ("cli: stack deploy --wait, cold", "cli: stack deploy --wait, no-op", "cli: stack down",
            "cli: stack list / docker-compose ps")
    results = {k: {"panel": [], PEER: []} for k in keys}
    for _ in range(runs):
        remove_compose_project(api, PANEL, volumes=False)
        results[keys[0]]["panel"].append(timed(stack_cmd + ["deploy", PANEL, "--wait"], env))
        results[keys[1]]["panel"].append(timed(stack_cmd + ["deploy", PANEL, "--wait"], env))
        results[keys[3]]["panel"].append(timed(stack_cmd + ["list"], env))
        results[keys[2]]["panel"].append(timed(stack_cmd + ["down", PANEL], env))
        remove_compose_project(api, COMPOSE, volumes=False)
        results[keys[0]][PEER].append(compose("up", "-d"))
        results[keys[1]][PEER].append(compose("up", "-d"))
        results[keys[3]][PEER].append(compose("ps"))
        results[keys[2]][PEER].append(compose("down"))
    return results


def browser_results(runs, env, stack, compose, verbose=False):
    from django.contrib.auth.models import Group, User
    from playwright.sync_api import sync_playwright

    from stacks.accounts.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("bench", password="bench-pass-1234")
    user.groups.add(Group.objects.get(name="operators"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # As the panel's image serves them (WhiteNoise, DEBUG off): without htmx the
    # page would never ask for the plan.
    timed([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks",
                               f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    confirm, plan = "browser: confirm to 'succeeded', no-op", "browser: 'Deploy…' to the plan shown"
    results = {confirm: {"panel": [], PEER: []}, plan: {"panel": [], PEER: []}}
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        timed([sys.executable, "manage.py", "stack", "deploy", stack.slug, "--wait"], env)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-background-networking"])
            page = browser.new_page()
            page.set_default_timeout(30000)
            page.goto(base + "/accounts/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-pass-1234")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for _ in range(runs + 1):  # the first round warms the server and the browser up
                page.goto(f"{base}/stacks/{stack.slug}/")
                t = time.perf_counter()
                page.click("#deploy")
                try:
                    page.wait_for_selector("#confirm-deploy")
                except Exception:
                    raise SystemExit("No confirm button; the plan part of the page says:\n"
                                     + page.inner_text("#plan")) from None
                shown = time.perf_counter() - t
                t = time.perf_counter()
                with page.expect_response(lambda r: r.request.method == "POST") as answer:
                    page.click("#confirm-deploy")
                answered = time.perf_counter() - t
                page.wait_for_selector("#deployment-status:has-text('succeeded')")
                done = time.perf_counter() - t
                if verbose:
                    from stacks.models import Deployment

                    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs; this is a plain read

                    d = Deployment.objects.order_by("-id").first()
                    print(f"browser run: {done:.3f}s (POST answered at {answered:.3f}s, "
                          f"{answer.value.request.timing['responseStart']:.0f} ms to its first byte); the operation waited {(d.started - d.created).total_seconds():.3f}s"
                          f" for a worker and ran {(d.finished - d.started).total_seconds():.3f}s", file=sys.stderr)
                peer = compose("up", "-d")
                if _:
                    results[confirm]["panel"].append(done)
                    results[confirm][PEER].append(peer)
                    results[plan]["panel"].append(shown)
                    results[plan][PEER].append(peer)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return results


if __name__ == "__main__":
    main()
