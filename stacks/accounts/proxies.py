"""The one place that decides a request's client address (the audit log and
django-axes' lockouts both ask `client_address`), and the middleware that
drops X-Forwarded-* headers unless they come from a proxy in
PANEL_TRUSTED_PROXIES: a client cannot claim another address, nor claim https."""
from functools import lru_cache

from django.conf import settings
from django.core import checks

from stacks.lib import forwarded

# Headers only a trusted proxy may set; Django reads X-Forwarded-Proto for
# request.is_secure() (SECURE_PROXY_SSL_HEADER, with PANEL_HTTPS).
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                     "HTTP_X_FORWARDED_PORT", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


@lru_cache(maxsize=8)
def _networks(entries):
    return forwarded.parse_networks(entries)


def trusted_networks():
    return _networks(tuple(getattr(settings, "PANEL_TRUSTED_PROXIES", ())))


def from_trusted_proxy(request):
    return forwarded.is_trusted(forwarded.parse_address(request.META.get("REMOTE_ADDR")), trusted_networks())


def client_address(request):
    """REMOTE_ADDR; when that is a trusted proxy, the right-most X-Forwarded-For
    address that is not one. Also django-axes' per-address key (AXES_CLIENT_IP_CALLABLE)."""
    if request is None:
        return None
    return forwarded.client_address(request.META.get("REMOTE_ADDR") or None,
                                    request.META.get("HTTP_X_FORWARDED_FOR", ""), trusted_networks())


class ProxyHeadersMiddleware:
    """First in MIDDLEWARE: a request that did not come through a trusted proxy
    loses its X-Forwarded-* headers before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not from_trusted_proxy(request):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


@checks.register(checks.Tags.security)
def check_trusted_proxies(app_configs=None, **kwargs):
    try:
        networks = trusted_networks()
    except ValueError as e:
        return [checks.Error(f"PANEL_TRUSTED_PROXIES: {e}", id="stacks.E020")]
    if settings.PANEL_HTTPS and not networks:
        return [checks.Warning(
            "PANEL_HTTPS is on but PANEL_TRUSTED_PROXIES is empty: the TLS proxy's X-Forwarded-Proto is "
            "not believed, so every request is redirected to https again.",
            hint="Set PANEL_TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1).", id="stacks.W020")]
    return []
