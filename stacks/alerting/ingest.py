"""Alertmanager's webhook payload (version 4) → Alert and AlertDelivery rows.

An occurrence is (fingerprint, startsAt): repeats update it, never duplicate it.
Deliveries are at least once and may arrive out of order; a resolved occurrence
stays resolved. Safe under concurrent deliveries on PostgreSQL: one
INSERT … ON CONFLICT DO UPDATE per payload, rows taken in key order.

What a delivery costs does not grow with the panel's data: on PostgreSQL one
statement stores the alerts and the delivery (which lists its alerts' ids); an
unchanged repeat is not written again; the stack and service an alert concerns
come from a map of services kept in this process (Linker)."""
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import psycopg
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from stacks.models import Alert, AlertDelivery, Service, Stack
from stacks.seams import live

ZERO_TIME_PREFIX = "0001-01-01"
UPSERT_CHUNK = 1000  # rows per statement on SQLite, where rows are parameters: 15,000 of them


class PayloadError(ValueError):
    """The payload is not Alertmanager's webhook format: 400, never retried."""


@dataclass
class Incoming:
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict
    annotations: dict
    generator_url: str


_FINGERPRINT = re.compile(r"[0-9a-zA-Z]{1,64}")


def _str_map(value, where):
    if type(value) is dict:
        try:  # join refuses anything but strings, and runs no Python code per item
            "".join(value)
            "".join(value.values())
            return value
        except TypeError:
            pass
    raise PayloadError(f"{where} must be an object of strings.")


def _time(value, where, allow_zero=False):
    """An aware datetime from an RFC 3339 string (Go writes up to nanoseconds;
    Python keeps microseconds), or PayloadError: also for times the database
    could not hold in UTC."""
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 time.")
    if value.startswith(ZERO_TIME_PREFIX):
        if allow_zero:
            return None
        raise PayloadError(f"{where} is the zero time.")
    try:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = parse_datetime(re.sub(r"(\.\d{6})\d+", r"\1", value))
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(dt_timezone.utc)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{where} is not an RFC 3339 time: {value[:40]!r}.")
    return parsed


def parse(payload):
    if not isinstance(payload, dict):
        raise PayloadError("The body must be a JSON object.")
    if str(payload.get("version")) != "4":
        raise PayloadError(f"Unsupported webhook version {payload.get('version')!r}: expected \"4\".")
    for key in ("receiver", "groupKey", "status"):
        if not isinstance(payload.get(key), str):
            raise PayloadError(f"'{key}' is missing or not a string.")
    if payload["status"] not in ("firing", "resolved"):
        raise PayloadError(f"'status' must be firing or resolved, not {payload['status']!r}.")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list.")
    truncated = payload.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or truncated < 0:
        raise PayloadError("'truncatedAlerts' must be a non-negative integer.")
    parsed = []
    times = {}  # a group's alerts often share their times: each string is read once

    def time_of(a, i, key, allow_zero=False):
        value = a.get(key, ZERO_TIME_PREFIX if allow_zero else None)
        found = times.get(value) if type(value) is str else None
        if found is None:
            found = _time(value, f"alerts[{i}].{key}", allow_zero)
            if found is not None:
                times[value] = found
        return found

    for i, a in enumerate(alerts):
        if type(a) is not dict:
            raise PayloadError(f"alerts[{i}] must be an object.")
        status = a.get("status")
        if status != "firing" and status != "resolved":
            raise PayloadError(f"alerts[{i}].status must be firing or resolved.")
        fingerprint = a.get("fingerprint")
        if type(fingerprint) is not str or not _FINGERPRINT.fullmatch(fingerprint):
            raise PayloadError(f"alerts[{i}].fingerprint is missing or malformed.")
        labels = _str_map(a.get("labels"), f"alerts[{i}].labels")
        if "alertname" not in labels:
            raise PayloadError(f"alerts[{i}].labels has no alertname.")
        url = a.get("generatorURL", "")
        parsed.append(Incoming(
            fingerprint=fingerprint, status=status, starts_at=time_of(a, i, "startsAt"),
            ends_at=time_of(a, i, "endsAt", allow_zero=True), labels=labels,
            annotations=_str_map(a.get("annotations", {}), f"alerts[{i}].annotations"),
            generator_url=url if type(url) is str else "",
        ))
    return payload, parsed, truncated


_CONTAINER_NAME = re.compile(r"([a-z0-9][a-z0-9_-]*?)[_-]([a-z0-9][a-z0-9_.-]*)[_-](\d+)")


class Linker:
    """Finds the stack and service an alert concerns from its labels.

    One map of every service serves every delivery of this process: rebuilt
    after LINKER_TTL seconds, at once when a stack or service changes here,
    and when an alert links to no service while the map is older than
    LINKER_RECHECK seconds (a service added by another process)."""

    LINKER_TTL = 60.0
    LINKER_RECHECK = 1.0
    _current = None
    _lock = threading.Lock()

    @classmethod
    def cached(cls, fresh=False):
        with cls._lock:
            linker = cls._current
        age = time.monotonic() - linker.built if linker else None
        if linker is None or age > cls.LINKER_TTL or (fresh and age > cls.LINKER_RECHECK):
            linker = cls()
            with cls._lock:
                cls._current = linker
        return linker

    @classmethod
    def forget(cls, **_kwargs):
        with cls._lock:
            cls._current = None

    def __init__(self):
        self.built = time.monotonic()
        self.services = {}  # (slug, name) → (stack_id, service_id)
        self.by_name = {}  # name → [(stack_id, service_id)]
        for sid, name, stack_id, slug in Service.objects.values_list("id", "name", "stack_id", "stack__slug"):
            self.services[(slug, name)] = (stack_id, sid)
            self.by_name.setdefault(name, []).append((stack_id, sid))
        self.stacks = {slug: stack_id for (slug, _), (stack_id, _) in self.services.items()}

    def link(self, labels):
        project = (labels.get("stack") or labels.get("com_docker_compose_project")
                   or labels.get("container_label_com_docker_compose_project"))
        service = (labels.get("service") or labels.get("com_docker_compose_service")
                   or labels.get("container_label_com_docker_compose_service"))
        if project and service and (project, service) in self.services:
            return self.services[(project, service)]
        name = labels.get("name", "")  # cAdvisor: the container name, {project}_{service}_{n}
        m = _CONTAINER_NAME.fullmatch(name) if name else None
        if m and (m.group(1), m.group(2)) in self.services:
            return self.services[(m.group(1), m.group(2))]
        host = labels.get("instance", "").rsplit(":", 1)[0]
        for candidate in (host, service, labels.get("job", "")):
            if candidate and len(self.by_name.get(candidate, [])) == 1:
                return self.by_name[candidate][0]
        if project in self.stacks:
            return self.stacks[project], None
        return None, None


UPSERT = """
INSERT INTO {table} AS a (fingerprint, starts_at, ends_at, status, name, severity, labels, annotations,
                       generator_url, stack_id, service_id, first_received, last_received, resolved_at,
                       search_text)
{source}
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
    last_received = EXCLUDED.last_received,
    labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations,
    search_text = EXCLUDED.search_text,
    -- a resolved occurrence stays resolved, whatever late repeat arrives
    status = CASE WHEN a.status = 'resolved' THEN a.status ELSE EXCLUDED.status END,
    resolved_at = CASE WHEN a.status = 'resolved' THEN a.resolved_at ELSE EXCLUDED.resolved_at END,
    ends_at = CASE WHEN a.status = 'resolved' THEN a.ends_at ELSE EXCLUDED.ends_at END
RETURNING id
"""

# How exact Alert.last_received is: a repeat that changes nothing, within this
# many seconds of the delivery that last wrote the alert, is recorded on its own
# delivery only. An HA pair delivers everything twice, and a group is re-sent
# whole (every group_interval, 5 minutes by default) whenever one of its alerts
# changes: most of what arrives is such repeats. repeat_interval's re-sends (4 h
# by default) still write it.
SEEN_PRECISION = 600

# PostgreSQL: one statement stores the payload, so one round trip and atomic
# without BEGIN/COMMIT, prepared once per connection. The alerts travel as one
# JSON parameter, an array per alert in FIELDS' order; a statement with fifteen
# placeholders per alert costs more to build and plan than to run. Rows are
# written in key order, so concurrent deliveries of a group lock them in the
# same order (no deadlock). The Linker's map may name a stack or service deleted
# since by another process: such a link becomes NULL, not an error. `unchanged`
# reads the statement's snapshot: an alert another delivery inserts meanwhile
# goes through the upsert, which sees it.
FIELDS = (("fingerprint", "text"), ("starts_at", "timestamptz"), ("ends_at", "timestamptz"), ("status", "text"),
          ("name", "text"), ("severity", "text"), ("labels", "jsonb"), ("annotations", "jsonb"),
          ("generator_url", "text"), ("stack_id", "bigint"), ("service_id", "bigint"), ("search_text", "text"))
_FIELD_SQL = ",\n           ".join(
    f"r->{i} AS {name}" if kind == "jsonb" else f"r->>{i} AS {name}" if kind == "text"
    else f"(r->>{i})::{kind} AS {name}" for i, (name, kind) in enumerate(FIELDS))
PG_STORE = """
WITH incoming AS (
    SELECT {fields}
    FROM jsonb_array_elements(%(alerts)s::jsonb) AS r),
unchanged AS (
    SELECT a.id, i.fingerprint, i.starts_at FROM incoming i
    -- One probe of the unique index per alert: a row comparison in the index's
    -- order is what no other index can serve (an equality on starts_at alone
    -- would let the planner walk every alert that started at the same second).
    CROSS JOIN LATERAL (SELECT * FROM stacks_alert a
                        WHERE (a.fingerprint, a.starts_at) >= (i.fingerprint, i.starts_at)
                        ORDER BY a.fingerprint, a.starts_at LIMIT 1) a
    WHERE a.fingerprint = i.fingerprint AND a.starts_at = i.starts_at
      AND a.last_received > %(seen_after)s AND a.labels = i.labels AND a.annotations = i.annotations
      AND (a.status = 'resolved' OR (a.status = i.status AND a.ends_at IS NOT DISTINCT FROM i.ends_at))),
stored AS ({upsert}),
delivery AS (
    INSERT INTO stacks_alertdelivery (receiver, group_key, status, received_at, alert_count, truncated, alert_ids)
    SELECT %(receiver)s, %(group_key)s, %(status)s, %(now)s, %(count)s, %(truncated)s,
           COALESCE(jsonb_agg(id ORDER BY id), '[]'::jsonb)
    FROM (SELECT id FROM stored UNION SELECT id FROM unchanged) AS carried
    RETURNING id)
SELECT id FROM delivery
""".format(fields=_FIELD_SQL, upsert=UPSERT.format(table="stacks_alert", source="""
    SELECT i.fingerprint, i.starts_at, i.ends_at, i.status, i.name, i.severity, i.labels, i.annotations,
           i.generator_url, (SELECT id FROM stacks_stack WHERE id = i.stack_id),
           (SELECT id FROM stacks_service WHERE id = i.service_id), %(now)s, %(now)s,
           CASE WHEN i.status = 'resolved' THEN %(now)s::timestamptz END, i.search_text
    FROM incoming i
    WHERE NOT EXISTS (SELECT 1 FROM unchanged u WHERE u.fingerprint = i.fingerprint AND u.starts_at = i.starts_at)
    ORDER BY i.fingerprint, i.starts_at"""))
# SQLite: the rows are parameters, in chunks inside one transaction.
SQLITE_ROW = ("(%s, %s, %s, %s, %s, %s, %s, %s, %s, (SELECT id FROM stacks_stack WHERE id = %s), "
              "(SELECT id FROM stacks_service WHERE id = %s), %s, %s, %s, %s)")


def _link_all(incoming):
    """{(fingerprint, startsAt): (stack_id, service_id)}; one fresh look at the
    services when the cached map links some alert to no service."""
    linker = Linker.cached()
    links = {(a.fingerprint, a.starts_at): linker.link(a.labels) for a in incoming}
    if any(service is None for _stack, service in links.values()):
        fresh = Linker.cached(fresh=True)
        if fresh is not linker:
            links = {(a.fingerprint, a.starts_at): fresh.link(a.labels) for a in incoming}
    return links


def _rows(incoming):
    """One row in FIELDS' order per occurrence, the last of the payload's."""
    links = _link_all(incoming)
    latest = {(a.fingerprint, a.starts_at): a for a in incoming}
    return [(a.fingerprint, a.starts_at, a.ends_at, a.status, a.labels["alertname"][:200],
             a.labels.get("severity", "")[:40], a.labels, a.annotations, a.generator_url, *links[key],
             Alert.make_search_text(a.labels, a.annotations)) for key, a in latest.items()]


class _Prepared(psycopg.Cursor):
    """Server-side binding, the statement prepared once per connection: planning
    it cost more than running it for a one-alert delivery. Django binds on the
    client and prepares nothing (for transaction-mode poolers, which this panel
    does not use); its own queries stay that way: psycopg prepares a query of a
    server-binding cursor only when asked, with the threshold set out of reach."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True, **kwargs)

    def _send_query_prepared(self, name, pgq, **kwargs):
        self._query = pgq  # as psycopg keeps it unprepared: what Django's query log reads
        return super()._send_query_prepared(name, pgq, **kwargs)


def _prepared_cursor():
    """A Django cursor (errors translated, queries logged when asked) over _Prepared."""
    connection.ensure_connection()
    raw_connection = connection.connection
    if raw_connection.prepare_threshold is None:  # None turns preparing off altogether
        raw_connection.prepare_threshold = sys.maxsize
    raw = _Prepared(raw_connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def store(payload, incoming, truncated):
    """Store a payload and its delivery, all or nothing; returns the delivery."""
    now = timezone.now()
    rows = _rows(incoming)
    stack_ids = {r[9] for r in rows if r[9]}
    # Open pages hear of it once it is committed (at once under autocommit).
    transaction.on_commit(lambda: announce(stack_ids))
    delivery = AlertDelivery(receiver=payload["receiver"].replace("\\", "")[:200], group_key=payload["groupKey"],
                             status=payload["status"], received_at=now, alert_count=len(incoming),
                             truncated=truncated)
    if connection.vendor == "postgresql":
        alerts = json.dumps([(fp, starts.isoformat(), ends and ends.isoformat(), *rest)
                             for fp, starts, ends, *rest in rows], separators=(",", ":"))
        params = {"alerts": alerts, "now": now, "seen_after": now - timedelta(seconds=SEEN_PRECISION),
                  "receiver": delivery.receiver, "group_key": delivery.group_key, "status": delivery.status,
                  "count": delivery.alert_count, "truncated": truncated}
        with _prepared_cursor() as cursor:
            cursor.execute(PG_STORE, params)
            delivery.pk = cursor.fetchone()[0]
        return delivery
    rows.sort(key=lambda r: (r[0], r[1]))
    ids = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            for start in range(0, len(rows), UPSERT_CHUNK):
                chunk = rows[start:start + UPSERT_CHUNK]
                params = []
                for fp, starts, ends, status, name, severity, labels, annotations, url, stack_id, service_id, \
                        text in chunk:
                    params += [fp, starts, ends, status, name, severity, json.dumps(labels),
                               json.dumps(annotations), url, stack_id, service_id, now, now,
                               now if status == "resolved" else None, text]
                values = "VALUES " + ", ".join([SQLITE_ROW] * len(chunk))
                cursor.execute(UPSERT.format(table="stacks_alert", source=values), params)
                ids += [r[0] for r in cursor.fetchall()]
        delivery.alert_ids = sorted(ids)
        delivery.save()
    return delivery


def announce(stack_ids=()):
    """Tell the open alert pages, and the pages of the stacks concerned."""
    slugs = Stack.objects.filter(pk__in=stack_ids).values_list("slug", flat=True) if stack_ids else []
    live.publish("alerts", *(t for slug in slugs for t in live.stack_topics(slug)))


def connect_signals():
    for model in (Stack, Service):
        post_save.connect(Linker.forget, sender=model, dispatch_uid=f"linker-save-{model.__name__}")
        post_delete.connect(Linker.forget, sender=model, dispatch_uid=f"linker-delete-{model.__name__}")
