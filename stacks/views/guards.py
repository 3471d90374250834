"""Guards every request passes before a view reads anything: the body's size
(413 before a byte of it is read, and anonymous requests get only what a login
form needs), and the answer when the database is locked or down (503 with
Retry-After, on every page, instead of a 500)."""
import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError
from django.urls import Resolver404, resolve
from django.utils.html import escape

log = logging.getLogger(__name__)
RETRY_AFTER = "5"


class BodyTooLarge(ValueError):
    """A chunked body that grew past its limit while it was read."""


def body_limit(setting):
    """Views that take larger bodies than the anonymous limit (the webhook: a
    machine client with a token of its own) name the setting that bounds them."""
    def mark(view):
        view.body_limit_setting = setting
        return view
    return mark


def _limit_for(request):
    try:
        setting = getattr(resolve(request.path_info).func, "body_limit_setting", None)
    except Resolver404:
        setting = None
    if setting:
        return getattr(settings, setting)
    if request.user.is_authenticated:
        return settings.PANEL_MAX_REQUEST_BYTES
    return settings.PANEL_ANONYMOUS_MAX_REQUEST_BYTES


class CountedInput:
    """wsgi.input of a chunked request (no Content-Length): counted as it
    streams, BodyTooLarge past the limit."""

    def __init__(self, stream, limit):
        self.stream, self.limit, self.seen = stream, limit, 0

    def read(self, size=-1):
        want = self.limit + 1 - self.seen if size is None or size < 0 else min(size, self.limit + 1 - self.seen)
        data = self.stream.read(max(want, 1))
        self.seen += len(data)
        if self.seen > self.limit:
            raise BodyTooLarge(f"The body is larger than {self.limit} bytes.")
        return data


def too_large(limit):
    response = HttpResponse(f"The request body is larger than {limit} bytes: refused.\n", status=413,
                            content_type="text/plain; charset=utf-8")
    response["Connection"] = "close"  # the rest of the body is never read
    return response


def read_body(request, limit):
    """The body, Content-Length or chunked (gunicorn hands a chunked body over
    de-chunked with no CONTENT_LENGTH: Django alone would read it as empty).
    Raises BodyTooLarge."""
    if request.META.get("CONTENT_LENGTH"):
        data = request.read(limit + 1)
    elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = request.META["wsgi.input"]
        parts = []
        while chunk := stream.read(64 * 1024):
            parts.append(chunk)
            if sum(map(len, parts)) > limit:
                raise BodyTooLarge(f"The body is larger than {limit} bytes.")
        data = b"".join(parts)
    else:
        data = b""
    if len(data) > limit:
        raise BodyTooLarge(f"The body is larger than {limit} bytes.")
    return data


class RequestSizeMiddleware:
    """Before any view, CSRF check or upload handler reads the body: a declared
    Content-Length over the limit is a 413 at once; a chunked body is counted as
    it streams. Anonymous requests (but for views with a limit of their own)
    may send PANEL_ANONYMOUS_MAX_REQUEST_BYTES, logged-in ones
    PANEL_MAX_REQUEST_BYTES (the import page's archive)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not length and not chunked:
            return self.get_response(request)
        limit = _limit_for(request)
        if length:
            if not length.isdigit() or int(length) > limit:  # a length that is no number: no size we accept
                log.warning("Refused a %s-byte body to %s %s (limit %d)", length, request.method,
                            request.path_info, limit)
                return too_large(limit)
        else:
            request.META["wsgi.input"] = CountedInput(request.META["wsgi.input"], limit)
        try:
            return self.get_response(request)
        except BodyTooLarge:
            return too_large(limit)


UNAVAILABLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Database unavailable — Stacks</title></head>
<body><main><h1>The panel's database is unavailable</h1>
<p>{detail} Nothing was changed. This page can be reloaded in a few seconds.</p></main></body></html>
"""


def server_error(request):
    """handler500: a database that is locked or down is a 503 with Retry-After
    (and a log line), not a 500; anything else is the usual 500. A page of its
    own, without the layout, which would read the session from that database."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        locked = "locked" in str(exc).lower()
        log.error("Database %s while serving %s %s: %s", "locked" if locked else "unavailable", request.method,
                  request.path_info, exc.__class__.__name__)
        detail = ("It is busy (locked by another task)." if locked else "It does not answer.")
        if request.path_info.endswith(".json") or "application/json" in request.headers.get("Accept", ""):
            response = HttpResponse('{"error": "The panel\'s database is unavailable; retry later."}',
                                    status=503, content_type="application/json")
        else:
            response = HttpResponse(UNAVAILABLE.format(detail=escape(detail)), status=503)
        response["Retry-After"] = RETRY_AFTER
        return response
    return HttpResponseServerError("<!doctype html><title>Server error</title><h1>Server error (500)</h1>"
                                   "<p>The panel's log has the details.</p>")
