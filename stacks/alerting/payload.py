"""Up-front checks of a webhook body, before anything touches the database.

Alertmanager retries a 5xx until its next flush and never retries a 4xx, so a
body we will never accept must be a 4xx: too large (413), too deep, not JSON,
strings PostgreSQL cannot store (NUL, lone surrogates), dates Python or the
database cannot hold, counts beyond their columns, wrong types (400). A 503 is
kept for a real database outage."""
import json
import re
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError
from django.utils.dateparse import parse_datetime

from .ingest import ZERO_TIME_PREFIX, PayloadError, parse, store

MAX_DEPTH = 8  # Alertmanager's body is 4 deep (body → alerts → alert → labels)
MAX_COUNT = 2**31 - 1  # PositiveIntegerField
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def _check_time(value, where, allow_zero):
    if not isinstance(value, str):
        raise Rejected(400, f"{where} must be an RFC 3339 time.")
    if value.startswith(ZERO_TIME_PREFIX) and allow_zero:
        return
    try:
        parsed = parse_datetime(re.sub(r"(\.\d{6})\d+", r"\1", value))
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(dt_timezone.utc)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Rejected(400, f"{where} is not an RFC 3339 time: {value[:40]!r}.")


def decode(body):
    """The checked JSON document of a body, or Rejected."""
    limit = settings.WEBHOOK_MAX_BYTES
    if len(body) > limit:
        raise Rejected(413, f"The body is larger than {limit} bytes.")
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:  # the C parser stops at the interpreter's limit, cleanly
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, 5,000-digit numbers
        raise Rejected(400, f"The body is not valid JSON: {str(exc)[:200]}.") from None
    _check_values(document)
    if isinstance(document, dict):
        alerts = document.get("alerts")
        if isinstance(alerts, list) and len(alerts) > max_alerts():
            raise Rejected(413, f"{len(alerts)} alerts in one message; at most {max_alerts()} (set max_alerts "
                                "on the webhook receiver).")
        truncated = document.get("truncatedAlerts", 0)
        if isinstance(truncated, bool) or (isinstance(truncated, int) and truncated > MAX_COUNT):
            raise Rejected(400, f"'truncatedAlerts' must be an integer from 0 to {MAX_COUNT}.")
        for i, alert in enumerate(alerts if isinstance(alerts, list) else []):
            if isinstance(alert, dict):
                _check_time(alert.get("startsAt"), f"alerts[{i}].startsAt", allow_zero=False)
                _check_time(alert.get("endsAt", ZERO_TIME_PREFIX), f"alerts[{i}].endsAt", allow_zero=True)
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
    """Store in one transaction (chunked statements inside it): all or nothing."""
    try:
        return store(payload, alerts, truncated)
    except DataError as exc:
        # A value the database refuses: retrying would fail the same way.
        raise Rejected(400, f"The database refused a value of this payload: {str(exc).splitlines()[0][:200]}") \
            from None
    except (OperationalError, InterfaceError) as exc:
        raise Outage(str(exc)) from exc
