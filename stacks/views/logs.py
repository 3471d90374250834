"""A container's last log lines. The web process never calls Docker: it asks the
worker for fresh lines and shows what the worker last stored, polling."""
from django.shortcuts import get_object_or_404
from django_htmx.http import HttpResponseStopPolling

from stacks.accounts.access import visible_stacks
from stacks.models import Service
from stacks.tasks import cached_logs, refresh_logs
from stacks.views import render_page


def service_logs(request, slug, name):
    service = get_object_or_404(Service.objects.select_related("stack"), stack__slug=slug, name=name,
                                stack__in=visible_stacks(request.user))
    follow = request.GET.get("follow", "1") == "1"
    error = ""
    try:
        refresh_logs(service)
        lines, fetched = cached_logs(service)
    except Exception as exc:  # noqa: BLE001 — Redis down: shown on the page, logged by the task layer
        lines, fetched, error = [], None, f"Logs are unavailable: {exc}"
    response = render_page(request, "stacks/logs.html",
                           {"service": service, "lines": lines, "fetched": fetched, "error": error, "follow": follow},
                           partial="log-lines")
    if request.htmx and not follow:
        response.status_code = HttpResponseStopPolling.status_code
    return response
