"""Up-front checks of a webhook body, before anything touches the database.

Alertmanager retries a 5xx until its next flush and never retries a 4xx, so a
body we will never accept must be a 4xx: too large (413), too deep, not JSON,
strings PostgreSQL cannot store (NUL, lone surrogates), dates Python or the
database cannot hold, counts beyond their columns, wrong types (400). A 503 is
kept for a real database outage."""
import json
import re

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError

from stacks.alerting.ingest import PayloadError, parse, store
from stacks.models import AlertDelivery
from stacks.notifications.path import heartbeat_arrived
from stacks.render.prometheus import HEARTBEAT

MAX_DEPTH = 8  # Alertmanager's body is 4 deep (body → alerts → alert → labels)
MAX_COUNT = 2**31 - 1  # PositiveIntegerField
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = {dict, list}


class Rejected(Exception):
    """A body we will never accept: the status to answer and why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Outage(Exception):
    """The database cannot take the payload right now: 503, Alertmanager retries."""


def max_alerts():
    return settings.WEBHOOK_MAX_ALERTS


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _too_deep():
    return Rejected(400, f"The body nests deeper than {MAX_DEPTH} levels: not an Alertmanager payload.")


# What could put a NUL or a lone surrogate into a decoded string: a \u escape of
# one, a UTF-8-encoded surrogate (json decodes bytes with "surrogatepass"), or a
# zero byte (a UTF-16 or UTF-32 body). A body without any is checked for depth only.
_BAD_STRING = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])|\xed[\xa0-\xbf]|\x00")


def _may_hold_bad_strings(body):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return (b"\\u" in body or b"\xed" in body or b"\x00" in body) and bool(_BAD_STRING.search(body))


def _check_values(value, depth=0):
    """Depth, and strings PostgreSQL cannot store (NUL, unpaired surrogates)."""
    if isinstance(value, str):
        if "\x00" in value or _SURROGATE.search(value):
            raise Rejected(400, "The body holds a NUL character or an unpaired surrogate.")
    elif isinstance(value, (dict, list)):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
            if isinstance(key, str):
                _check_values(key, depth)
            _check_values(item, depth + 1)


def _check_depth(document):
    """Depth alone, level by level: strings are not visited."""
    level, depth = [document], 0
    while level:
        if depth >= MAX_DEPTH:
            raise _too_deep()
        level = [item for container in level for item in (container.values() if type(container) is dict else container)
                 if type(item) in _CONTAINERS]
        depth += 1


def decode(body):
    """The checked JSON document of a body, or Rejected. Times are checked where
    they are read (ingest.parse)."""
    limit = settings.WEBHOOK_MAX_BYTES
    if len(body) > limit:
        raise Rejected(413, f"The body is larger than {limit} bytes.")
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:  # the C parser stops at the interpreter's limit, cleanly
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, 5,000-digit numbers
        raise Rejected(400, f"The body is not valid JSON: {str(exc)[:200]}.") from None
    if _may_hold_bad_strings(body):
        _check_values(document)
    elif isinstance(document, (dict, list)):
        _check_depth(document)
    if isinstance(document, dict):
        alerts = document.get("alerts")
        if isinstance(alerts, list) and len(alerts) > max_alerts():
            raise Rejected(413, f"{len(alerts)} alerts in one message; at most {max_alerts()} (set max_alerts "
                                "on the webhook receiver).")
        truncated = document.get("truncatedAlerts", 0)
        if isinstance(truncated, bool) or (isinstance(truncated, int) and truncated > MAX_COUNT):
            raise Rejected(400, f"'truncatedAlerts' must be an integer from 0 to {MAX_COUNT}.")
    return document


def checked(body):
    """(payload, alerts, truncated) from a body, or Rejected."""
    document = decode(body)
    try:
        return parse(document)
    except PayloadError as exc:
        raise Rejected(400, f"Not an Alertmanager webhook payload: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # parse() is pure: whatever it cannot read is the payload's fault.
        raise Rejected(400, f"Not an Alertmanager webhook payload: {str(exc)[:200]}") from None


def save(payload, alerts, truncated):
    """Store in one transaction (chunked statements inside it): all or nothing.
    The panel's heartbeat is not an alert: its arrival is noted on its stack's
    watch (stacks.notifications.path), and nothing else is stored for it."""
    beats = {a.labels.get("stack", "") for a in alerts
             if a.labels.get("alertname") == HEARTBEAT and a.status == "firing"}
    try:
        if any(a.labels.get("alertname") == HEARTBEAT for a in alerts):
            heartbeat_arrived(beats)
            alerts = [a for a in alerts if a.labels.get("alertname") != HEARTBEAT]
            if not alerts:
                return AlertDelivery(receiver=payload["receiver"], status=payload["status"], alert_count=0)
        return store(payload, alerts, truncated)
    except DataError as exc:
        # A value the database refuses: retrying would fail the same way.
        raise Rejected(400, f"The database refused a value of this payload: {str(exc).splitlines()[0][:200]}") \
            from None
    except (OperationalError, InterfaceError) as exc:
        raise Outage(str(exc)) from exc
