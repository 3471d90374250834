from django import template

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
    from django.utils.dateparse import parse_datetime

    import re

    try:
        return parse_datetime(re.sub(r"(\.\d{6})\d+", r"\1", value or "")) or value
    except ValueError:
        return value
