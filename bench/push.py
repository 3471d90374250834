#!/usr/bin/env python
"""Push against polling, on the real web server (bin/serve: gunicorn, threaded):
requests per second and the server's CPU for N open stack pages left idle
(before: each polls as the pages did, its services every 5 s and its timeline
every 10 s; after: each holds its /live/ stream), then the delay from a deploy
step being recorded to its line in Chromium (before: the 0.5 s poll; after: the push).

    .venv/bin/python bench/push.py [--pages 50] [--seconds 60] [--steps 10]"""
import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, bench_django  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """CPU time of a process and its children (gunicorn's master and workers)."""
    total = 0.0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def logged_in(base):
    s = requests.Session()
    s.get(base + "/accounts/login/")
    r = s.post(base + "/accounts/login/", data={"username": "bench", "password": "bench-pass",
                                                "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": base + "/accounts/login/"})
    assert "/accounts/login/" not in r.url, "login failed"
    return s


def idle(base, cookies, pages, seconds, mode, server_pid):
    """(requests per second, server CPU %) while `pages` pages sit open."""
    count, lock, stop = [0], threading.Lock(), threading.Event()
    hx = {"HX-Request": "true"}

    def get(session, path, **kw):
        with lock:
            count[0] += 1
        return session.get(base + path, timeout=30, **kw)

    def poller(i):
        s = requests.Session()
        s.cookies.update(cookies)
        start = time.monotonic() + i * 5 / pages  # spread, as tabs opened at different times are
        n = 0
        while not stop.wait(max(0, start + n * 5 - time.monotonic())):
            get(s, "/stacks/web/", headers=hx)
            if n % 2 == 0:
                get(s, "/stacks/web/timeline/", headers=hx)
            n += 1

    def listener(i):
        s = requests.Session()
        s.cookies.update(cookies)
        with get(s, "/live/?topics=stack:web,alerts", stream=True) as r:
            for _ in r.iter_lines():
                if stop.is_set():
                    return

    threads = [threading.Thread(target=poller if mode == "before" else listener, args=(i,), daemon=True)
               for i in range(pages)]
    for t in threads:
        t.start()
    time.sleep(2)  # every page open
    with lock:
        count[0] = 0
    cpu0, t0 = cpu_seconds(server_pid), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = cpu_seconds(server_pid), time.monotonic()
    n = count[0]
    stop.set()
    return n / (t1 - t0), 100 * (cpu1 - cpu0) / (t1 - t0)


def step_delays(base, deployment_model, stack, steps, mode):
    from playwright.sync_api import sync_playwright

    delays = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page()
        page.goto(base + "/accounts/login/")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", "bench-pass")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        d = deployment_model.objects.create(stack=stack)
        if mode == "before":  # the page as it was: no stream, its fragment fetched every 0.5 s
            page.route("**/live/**", lambda route: route.abort())
        page.goto(f"{base}/deployments/{d.pk}/")
        if mode == "before":
            page.evaluate("setInterval(() => htmx.trigger('#progress', 'live'), 500)")
        else:
            page.wait_for_selector("body[data-push=open]")
        d.claim()
        for i in range(steps):
            time.sleep(random.uniform(0.2, 1.2))  # steps come at no particular phase of a poll
            t = time.perf_counter()
            d.log(f"bench step {i}")
            page.wait_for_selector(f"#steps li:has-text('bench step {i}')", timeout=10000)
            delays.append(time.perf_counter() - t)
        d.finish()
        browser.close()
    return delays


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread; the ORM stays sync
    with bench_django("panel-bench-push") as (tmp, database_url):
        from django.contrib.auth.models import Group, User

        from stacks.accounts.roles import ensure_roles
        from stacks.models import Deployment, Service, Stack

        ensure_roles()
        user = User.objects.create_user("bench", password="bench-pass")
        user.groups.add(Group.objects.get(name="viewers"))
        stack = Stack.objects.create(slug="web", name="web")
        Service.objects.bulk_create([Service(stack=stack, name=f"svc{i}", image="nginx") for i in range(5)])
        port = free_port()
        env = {**os.environ, "PANEL_BIND": f"127.0.0.1:{port}", "DATABASE_URL": database_url,
               "STACKS_DIR": str(tmp / "stacks"), "PANEL_ACCESS_LOG": "/dev/null",
               "PANEL_WEB_THREADS": str(args.pages + 40)}
        server = subprocess.Popen([str(ROOT / "bin/serve")], cwd=ROOT, env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    requests.get(base + "/accounts/login/", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            cookies = logged_in(base).cookies
            print(f"{args.pages} open stack pages, idle for {args.seconds} s (bin/serve, 2 workers)")
            print(f"{'':<28}{'requests/s':>12}{'server CPU %':>14}")
            for mode, what in (("before", "before (polling 5 s / 10 s)"), ("after", "after (push)")):
                rps, cpu = idle(base, cookies, args.pages, args.seconds, mode, server.pid)
                print(f"{what:<28}{rps:>12.2f}{cpu:>14.1f}")
            print(f"\nDelay from a deploy step recorded to its line in Chromium ({args.steps} steps)")
            for mode, what in (("before", "before (poll every 0.5 s)"), ("after", "after (push)")):
                delays = step_delays(base, Deployment, stack, args.steps, mode)
                print(f"{what:<28} median {statistics.median(delays):.3f} s, max {max(delays):.3f} s")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)


if __name__ == "__main__":
    main()
