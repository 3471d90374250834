#!/usr/bin/env python
"""How soon the team hears that alerts no longer get through, with the default
intervals: the demo stack (Prometheus, Alertmanager, node-exporter on the local
images) deployed with the stacks' default scrape/evaluation/grouping intervals,
a notification URL (Apprise json:// to a receiver on 127.0.0.1), the web
process (`runserver` on the Docker bridge's address, for the heartbeat), then
Alertmanager cut off its network (`docker network disconnect`) and later
reconnected, with the watch run every PANEL_WATCH_SECONDS and deliveries every
PANEL_DELIVERY_SECONDS, as beat runs them.

    .venv/bin/python bench/alert_path.py

Prints the seconds from the deploy to the first heartbeat, from the cut to the
"delivery broken" notification at the URL, and from the reconnection to the
"ended" one (the worst case: the cut falls just after a watch)."""
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _django import HEAVY_LOCK, ROOT, bench_django, demo_stack, locks, panel_deploy, remove_compose_project  # noqa: E402

from controlpanel.listen import bridge_gateway  # noqa: E402

TOKEN = "bench-alert-path-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    os.environ["PANEL_WEBHOOK_TOKEN"] = TOKEN
    for name in ("apprise", "stacks"):  # the figures only
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with locks(HEAVY_LOCK), bench_django("bench-alert-path") as (tmp, database_url):
        run(database_url)


def run(database_url):
    import docker
    from django.conf import settings
    from django.core.management import call_command

    from stacks.models import Stack, StackWatch
    from stacks.notifications import path
    from stacks.tests.receiver import Receiver

    api = docker.APIClient()
    bridge = bridge_gateway()  # where host.docker.internal leads the containers, as bin/run listens
    port = free_port()
    settings.PANEL_URL_FOR_STACKS = f"http://host.docker.internal:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "PANEL_WEBHOOK_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{bridge}:{port}", "--noreload"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    slug = f"benchpath{os.getpid()}"
    try:
        stack = demo_stack(slug, free_port(), free_port())
        defaults = {name: Stack._meta.get_field(name).get_default() for name in (
            "alert_group_wait", "alert_group_interval", "alert_repeat_interval", "scrape_interval",
            "evaluation_interval")}
        Stack.objects.filter(pk=stack.pk).update(**defaults)
        stack.refresh_from_db()
        every, deliveries = settings.PANEL_WATCH_SECONDS, float(os.environ.get("PANEL_DELIVERY_SECONDS", "5"))
        print(f"intervals: scrape/evaluation {stack.scrape_interval}, heartbeat re-sent every "
              f"{settings.PANEL_HEARTBEAT_REPEAT}, watch every {every:g} s, deliveries every {deliveries:g} s")
        panel_deploy(stack)
        deployed = time.monotonic()
        with Receiver() as receiver:
            call_command("notify", "add", "bench", receiver.url, stdout=open(os.devnull, "w"))
            while not StackWatch.objects.filter(stack=stack, last_heartbeat__isnull=False).exists():
                if time.monotonic() - deployed > 300:
                    raise SystemExit("No heartbeat within 300 s: is the web process reachable from the containers?")
                time.sleep(0.5)
            print(f"first heartbeat at the panel       {time.monotonic() - deployed:7.1f} s after the deploy")
            watch = path.check(stack)
            assert watch.path_ok, watch.path_reason
            am = f"{slug}_alertmanager_1"
            (network,) = api.inspect_container(am)["NetworkSettings"]["Networks"]
            api.disconnect_container_from_network(am, network)
            cut = time.monotonic()
            title = f"Alert delivery broken on {slug}"
            beat(lambda: title in receiver.titles(), stack, every, deliveries)
            print(f"'delivery broken' at the URL       {time.monotonic() - cut:7.1f} s after the cut")
            api.connect_container_to_network(am, network, aliases=["alertmanager"])
            back = time.monotonic()
            beat(lambda: f"Ended: {title}" in receiver.titles(), stack, every, deliveries)
            print(f"'ended' at the URL                 {time.monotonic() - back:7.1f} s after reconnecting")
    finally:
        server.terminate()
        server.wait(10)
        remove_compose_project(api, slug)


def beat(done, stack, every, deliveries, timeout=900):
    """Beat's two schedules, in this process: the watch every `every` seconds
    (its first tick one interval away) and deliveries every `deliveries`."""
    from stacks.notifications import deliver, path

    start = time.monotonic()
    next_watch = start + every
    while not done():
        now = time.monotonic()
        if now - start > timeout:
            raise SystemExit(f"Not told within {timeout} s")
        if now >= next_watch:
            path.check(stack)
            next_watch += every
        deliver.deliver_due()
        time.sleep(deliveries)


if __name__ == "__main__":
    main()
