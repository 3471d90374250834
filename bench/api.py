#!/usr/bin/env python
"""An API deploy round trip beside the command line's: POST /api/v1/stacks/SLUG/deploy
then its Server-Sent Events until `succeeded`, against `manage.py stack deploy
SLUG --wait`, on the same demo stack (local images), the same Celery worker of
the bench's own, and the same web server (runserver, started here).

    REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/api.py [--runs 3]

Prints cold (containers removed first) and no-op deploys, medians, and the ratio."""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import HEAVY_LOCK, ROOT, bench_django, demo_stack, locks, print_table, remove_compose_project, timed  # noqa: E402

PEER = "stack deploy --wait"
SLUG = "benchapi"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with locks(HEAVY_LOCK), bench_django("bench-api") as (tmp, url):
        run(args, tmp, url)


def run(args, tmp, database_url):
    import docker
    import requests
    from django.conf import settings

    from stacks.accounts.roles import ensure_roles
    from stacks.models import ApiToken

    queue = f"bench-{os.getpid()}"
    api = docker.from_env().api
    stack = demo_stack(SLUG, 29190, 29193)
    ensure_roles()
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.get(name="operators"))
    _, secret = ApiToken.objects.issue(user, "bench", write=True, stacks=[stack])
    env = {**os.environ, "DATABASE_URL": database_url, "STACKS_DIR": str(settings.STACKS_DIR),
           "CELERY_TASK_DEFAULT_QUEUE": queue, "PANEL_ENGINE_QUEUE_PREFIX": f"{queue}.", "PYTHONDONTWRITEBYTECODE": "1"}
    port = free_port()
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "controlpanel", "worker", "-l", "warning", "-P",
                               "solo", "-Q", f"{queue},{queue}.engine.local", "--without-gossip", "--without-mingle",
                               "--without-heartbeat"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp / "worker.log", "w"), start_new_session=True)
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "web.log", "w"), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {secret}"}
    session = requests.Session()

    def api_deploy():
        t = time.perf_counter()
        accepted = session.post(f"{base}/api/v1/stacks/{SLUG}/deploy", headers=auth, timeout=30)
        accepted.raise_for_status()
        last = ""
        with session.get(base + accepted.json()["events"], headers=auth, stream=True, timeout=300) as events:
            for line in events.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    last = line
        elapsed = time.perf_counter() - t
        if '"succeeded"' not in last:
            raise SystemExit(f"API deploy did not succeed: {last}")
        return elapsed

    def cli_deploy():
        return timed([sys.executable, "manage.py", "stack", "deploy", SLUG, "--wait"], env=env)

    results = {k: {"panel": [], PEER: []} for k in ("cold", "no-op")}
    try:
        for _ in range(200):
            try:
                session.get(base + "/api/v1/stacks", headers=auth, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        for _ in range(args.runs):
            for name, deploy in (("panel", api_deploy), (PEER, cli_deploy)):
                remove_compose_project(api, SLUG)
                results["cold"][name].append(deploy())
                results["no-op"][name].append(deploy())
    finally:
        for p in (web, worker):
            p.terminate()
            p.wait(30)
        remove_compose_project(api, SLUG)
    print_table("Deploy of the demo stack: the API (POST + Server-Sent Events to succeeded) as `panel`, "
                "beside the command line", PEER, results)


if __name__ == "__main__":
    main()
