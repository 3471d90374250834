import re

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

register = template.Library()


@register.filter
def ui_link(service, host):
    """The URL of the UI a service offers, at the host the user reached the panel on."""
    return service.ui_url(host=host or "localhost")


@register.filter
def get(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.filter
def iso_time(value):
    """An RFC 3339 time from an outside API (Alertmanager's silences) as a datetime."""
    try:
        return parse_datetime(re.sub(r"(\.\d{6})\d+", r"\1", value or "")) or value
    except ValueError:
        return value


@register.filter
def duration_words(delta):
    """A timedelta as '40 s', '3 min 5 s', '2 h 10 min', '3 days'."""
    seconds = int(delta.total_seconds()) if delta is not None else 0
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


# Swarm task states on the way to running (Docker's TaskState), and Compose's.
_UNDERWAY = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "created",
             "restarting"}


@register.filter
def state_pill(state):
    """The pill class of a container's or task's state: ok, running (under way) or bad."""
    return "ok" if state == "running" else ("running" if state in _UNDERWAY else "bad")


@register.simple_tag
def moment(value, short=False):
    """One way to write a time: `2026-12-04 15:19:29 UTC` (the server's zone),
    turned into the viewer's zone by static/moment.js (`… CET`); `short`: the
    time of day alone, with its zone."""
    if not value:
        return "—"
    if isinstance(value, str):
        value = iso_time(value)
        if isinstance(value, str):
            return value
    local = timezone.localtime(value)
    shown = local.strftime("%H:%M:%S %Z" if short else "%Y-%m-%d %H:%M:%S %Z")
    return format_html('<time datetime="{}" data-moment="{}">{}</time>', local.isoformat(),
                       "short" if short else "long", shown)
