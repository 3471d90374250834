"""A container's last log lines. The web process never calls Docker: it shows
what the worker last stored. A following page holds a watch (tasks.watch_logs),
so a worker follows the service's log stream and each new line reaches the page
as a `logs:STACK:SERVICE` notice (monitoring.logs); a paused page asks for one
fresh read."""
import re

from django.shortcuts import get_object_or_404
from django_htmx.http import HttpResponseStopPolling

from stacks.accounts.access import visible_stacks
from stacks.models import Service
from stacks.tasks import refresh_logs, watch_logs
from stacks.views import render_page

TAILS = (100, 200, 1000)
# Docker's own timestamp (logs(timestamps=True)), after a replica's "NAME | ".
DOCKER_LINE = re.compile(r"^(?:(?P<name>\S+) \| )?(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ?(?P<text>.*)$")


def split_line(line):
    """{"at": Docker's time or "", "text": the line without it (a replica's name kept)}."""
    m = DOCKER_LINE.match(line)
    if not m:
        return {"at": "", "text": line}
    return {"at": m["at"], "text": f"{m['name']} | {m['text']}" if m["name"] else m["text"]}


def service_logs(request, slug, name):
    service = get_object_or_404(Service.objects.select_related("stack"), stack__slug=slug, name=name,
                                stack__in=visible_stacks(request.user))
    follow = request.GET.get("follow", "1") == "1"
    tail = int(request.GET["tail"]) if request.GET.get("tail") in {str(t) for t in TAILS} else 200
    error = ""
    try:
        lines, fetched = (watch_logs if follow else refresh_logs)(service)
    except Exception as exc:  # noqa: BLE001 — Redis down: shown on the page, logged by the task layer
        lines, fetched, error = [], None, f"Logs are unavailable: {exc}"
    context = {"service": service, "lines": [split_line(line) for line in lines[-tail:]], "fetched": fetched,
               "error": error, "follow": follow, "tail": tail, "tails": TAILS}
    response = render_page(request, "stacks/logs.html", context, partial="log-lines")
    if request.htmx and not follow:
        response.status_code = HttpResponseStopPolling.status_code
    return response
