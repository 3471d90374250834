#!/usr/bin/env python
"""Push to deploy: from `git push` to the new alert rule live in the running
Prometheus, the panel (signed webhook → fetch → import as a version → plan →
reload) beside a script on the same project doing `git pull && docker-compose
up -d` (and the `POST /-/reload` Prometheus then needs: `up -d` alone leaves the
old rule loaded, since no container's spec changed).

    .venv/bin/python bench/git_push.py [--rounds 5]

Both projects are the demo's (Prometheus, Alertmanager, node-exporter on the
local images), each in its own repository served over file://. The webhook goes
through Django's whole request path (middleware, signature check, the view) in
this process, and Celery runs eagerly: the sync and the deploy happen inside
that request as a worker would run them, without a queue's latency. Each round
renames the rule; the clock stops when Prometheus' /api/v1/rules lists it.
Prints the medians side by side with their ratio."""
import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _django import HEAVY_LOCK, bench_django, locks, print_table, remove_compose_project  # noqa: E402

PANEL, PEER = "benchgitpanel", "benchgitpeer"
RULES = "monitoring/prometheus/rules/alerts.yml"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with locks(HEAVY_LOCK), bench_django("bench-git") as (tmp, _url):
        run(args, tmp)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rule_live(port, name, timeout=60):
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            groups = requests.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=2).json()["data"]["groups"]
            if any(r["name"] == name for g in groups for r in g["rules"]):
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"rule {name} not live on :{port} after {timeout}s")


def project_files(slug, port):
    from stacks.defaults.demo import mini_monitoring
    from stacks.engine.local_images import build_local_images
    from stacks.models import Secret
    from stacks.render import render_bundle

    build_local_images(log=lambda *_: None)
    stack = mini_monitoring(slug=slug, prom_port=port, am_port=free_port(), panel_url_host="127.0.0.1")
    files = dict(render_bundle(stack).files)
    stack.delete()
    Secret.objects.filter(stack__isnull=True).exclude(name__startswith="panel_").delete()
    return files


def run(args, tmp):
    import docker
    from django.core.management import call_command
    from django.test import Client

    from controlpanel.celery import app
    from stacks.models import GitSource, Stack
    from stacks.tests.git_server import Repo, git

    app.conf.task_always_eager = True
    api = docker.from_env().api
    panel_port, peer_port = free_port(), free_port()
    panel_repo, peer_repo = Repo(tmp / "panel-git"), Repo(tmp / "peer-git")
    panel_repo.push({f"monitoring/{p}": t for p, t in project_files(PANEL, panel_port).items()}, "initial")
    peer_repo.push({f"monitoring/{p}": t for p, t in project_files(PEER, peer_port).items()}, "initial")
    peer_dir = tmp / "peer-checkout"
    git("clone", "--quiet", str(peer_repo.bare), str(peer_dir))
    compose = ["docker-compose", "-p", PEER]
    results = {"push → rule live": {"panel": [], "docker-compose": []}}
    try:
        call_command("stack", "import", panel_repo.url, "--git", "--name", PANEL, "--path", "monitoring",
                     "--auto-deploy", "--poll", "0", stdout=open(os.devnull, "w"))
        call_command("stack", "sync", PANEL, stdout=open(os.devnull, "w"))
        stack = Stack.objects.get(slug=PANEL)
        assert stack.deployments.get().status == "succeeded"
        secret = GitSource.objects.get(stack=stack).webhook_secret
        subprocess.run(compose + ["up", "-d"], cwd=peer_dir / "monitoring", check=True, capture_output=True)
        rule_live(panel_port, "TargetDown"), rule_live(peer_port, "TargetDown")
        client = Client()
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for n in range(args.rounds):
            name = f"Rule{n}"
            # The panel: push, then the forge's signed webhook.
            text = (panel_repo.work / RULES).read_text()
            (panel_repo.work / RULES).write_text(_renamed(text, name))
            t = time.perf_counter()
            git("commit", "--quiet", "-am", name, cwd=panel_repo.work)
            git("push", "--quiet", "origin", "main", cwd=panel_repo.work)
            answer = client.post(f"/webhooks/git/{PANEL}/", body, content_type="application/json",
                                 HTTP_X_HUB_SIGNATURE_256=signature, HTTP_X_GITHUB_EVENT="push")
            assert answer.status_code == 202, answer.content
            rule_live(panel_port, name)
            panel_s = time.perf_counter() - t
            # The script: push, then pull and up -d on the host, then the reload Prometheus needs.
            text = (peer_repo.work / RULES).read_text()
            (peer_repo.work / RULES).write_text(_renamed(text, name))
            t = time.perf_counter()
            git("commit", "--quiet", "-am", name, cwd=peer_repo.work)
            git("push", "--quiet", "origin", "main", cwd=peer_repo.work)
            git("pull", "--quiet", "--ff-only", cwd=peer_dir)
            subprocess.run(compose + ["up", "-d"], cwd=peer_dir / "monitoring", check=True, capture_output=True)
            subprocess.run(["curl", "-sf", "-X", "POST", f"http://127.0.0.1:{peer_port}/-/reload"], check=True)
            rule_live(peer_port, name)
            peer_s = time.perf_counter() - t
            deploy = stack.deployments.order_by("-id").first()
            assert deploy.status == "succeeded" and deploy.version.commit == panel_repo_head(panel_repo, git)
            results["push → rule live"]["panel"].append(panel_s)
            results["push → rule live"]["docker-compose"].append(peer_s)
            print(f"round {n + 1}: panel {panel_s:.3f}s (deploy #{deploy.pk}, commit {deploy.version.commit[:7]}), "
                  f"git pull && docker-compose up -d && reload {peer_s:.3f}s", flush=True)
    finally:
        app.conf.task_always_eager = False
        remove_compose_project(api, PANEL)
        remove_compose_project(api, PEER)
    print()
    print_table(f"Push to the rule live in Prometheus, median of {args.rounds} interleaved rounds, seconds "
                "(peer: git pull && docker-compose up -d, then POST /-/reload)", "docker-compose", results)


def panel_repo_head(repo, git):
    return git("rev-parse", "HEAD", cwd=repo.work)


def _renamed(text, name):
    import re

    return re.sub(r"alert: \w+", f"alert: {name}", text, count=1)


if __name__ == "__main__":
    main()
