from django import template

register = template.Library()


@register.filter
def ui_link(service, host):
    """The URL of the UI a service offers, at the host the user reached the panel on."""
    return service.ui_url(host=host or "localhost")


@register.filter
def get(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
