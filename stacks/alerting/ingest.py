"""Alertmanager's webhook payload (version 4) → Alert and AlertDelivery rows.

An occurrence is (fingerprint, startsAt): repeats update it, never duplicate it.
Deliveries are at least once and may arrive out of order; a resolved occurrence
stays resolved. Safe under concurrent deliveries on PostgreSQL: one
INSERT … ON CONFLICT DO UPDATE per payload, rows taken in key order.

What a delivery costs does not grow with the panel's data: on PostgreSQL one
statement stores the alerts, the delivery and their links; the stack and service
an alert concerns come from a map of services kept in this process (Linker)."""
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from stacks.models import Alert, AlertDelivery, Service

ZERO_TIME_PREFIX = "0001-01-01"
UPSERT_CHUNK = 1000  # rows per statement where rows are parameters (SQLite): 15,000 parameters


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


def _str_map(value, where):
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PayloadError(f"{where} must be an object of strings.")
    return value


def _time(value, where, allow_zero=False):
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 time.")
    if value.startswith(ZERO_TIME_PREFIX):
        if allow_zero:
            return None
        raise PayloadError(f"{where} is the zero time.")
    # Go writes up to nanoseconds; Python keeps microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    parsed = parse_datetime(trimmed)
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
    for i, a in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(a, dict):
            raise PayloadError(f"{where} must be an object.")
        if a.get("status") not in ("firing", "resolved"):
            raise PayloadError(f"{where}.status must be firing or resolved.")
        fingerprint = a.get("fingerprint")
        if not isinstance(fingerprint, str) or not re.fullmatch(r"[0-9a-zA-Z]{1,64}", fingerprint):
            raise PayloadError(f"{where}.fingerprint is missing or malformed.")
        labels = _str_map(a.get("labels"), f"{where}.labels")
        if "alertname" not in labels:
            raise PayloadError(f"{where}.labels has no alertname.")
        parsed.append(Incoming(
            fingerprint=fingerprint, status=a["status"],
            starts_at=_time(a.get("startsAt"), f"{where}.startsAt"),
            ends_at=_time(a.get("endsAt", ZERO_TIME_PREFIX), f"{where}.endsAt", allow_zero=True),
            labels=labels, annotations=_str_map(a.get("annotations", {}), f"{where}.annotations"),
            generator_url=a.get("generatorURL", "") if isinstance(a.get("generatorURL", ""), str) else "",
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


DELIVERY = """
WITH stored AS ({upsert}),
delivery AS (
    INSERT INTO {deliveries} (receiver, group_key, status, received_at, alert_count, truncated)
    VALUES (%s, %s, %s, %s, %s, %s) RETURNING id),
linked AS (
    INSERT INTO {through} (alertdelivery_id, alert_id) SELECT delivery.id, stored.id FROM delivery, stored)
SELECT id FROM delivery
"""

# PostgreSQL: the rows travel as one JSON parameter, already in key order; a
# statement with fifteen placeholders per alert costs more to build and plan
# than to run.
# The Linker's map may name a stack or service deleted since by another
# process: such a link becomes NULL rather than a foreign-key error.
LINKED = ("(SELECT id FROM stacks_stack WHERE id = {stack})",
          "(SELECT id FROM stacks_service WHERE id = {service})")
FROM_JSON = """
SELECT r.fingerprint, r.starts_at, r.ends_at, r.status, r.name, r.severity, r.labels, r.annotations,
       r.generator_url, {stack_id}, {service_id}, %s::timestamptz, %s::timestamptz, r.resolved_at, r.search_text
FROM jsonb_to_recordset(%s::jsonb) AS r(fingerprint text, starts_at timestamptz, ends_at timestamptz, status text,
     name text, severity text, labels jsonb, annotations jsonb, generator_url text, stack_id bigint,
     service_id bigint, resolved_at timestamptz, search_text text)
ORDER BY r.fingerprint, r.starts_at
""".format(stack_id=LINKED[0].format(stack="r.stack_id"), service_id=LINKED[1].format(service="r.service_id"))


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


def store(payload, incoming, truncated):
    """One upsert statement for the whole payload: concurrent deliveries of the
    same group serialize on the rows' locks (taken in key order: no deadlock)."""
    now = timezone.now()
    links = _link_all(incoming)
    latest = {(a.fingerprint, a.starts_at): a for a in incoming}  # one row per occurrence
    keys = sorted(latest, key=lambda k: (k[0], k[1].isoformat()))
    rows = []
    for key in keys:
        a = latest[key]
        stack_id, service_id = links[key]
        rows.append((a.fingerprint, a.starts_at, a.ends_at, a.status, a.labels["alertname"][:200],
                     a.labels.get("severity", "")[:40], a.labels, a.annotations, a.generator_url, stack_id,
                     service_id, now if a.status == "resolved" else None,
                     Alert.make_search_text(a.labels, a.annotations)))
    delivery = AlertDelivery(receiver=payload["receiver"].replace("\\", "")[:200], group_key=payload["groupKey"],
                             status=payload["status"], received_at=now, alert_count=len(incoming),
                             truncated=truncated)
    if keys and connection.vendor == "postgresql":
        # One statement, so one round trip and atomic without BEGIN/COMMIT.
        sql = DELIVERY.format(
            upsert=UPSERT.format(table=Alert._meta.db_table, source=FROM_JSON),
            deliveries=AlertDelivery._meta.db_table, through=AlertDelivery.alerts.through._meta.db_table)
        names = ("fingerprint", "starts_at", "ends_at", "status", "name", "severity", "labels", "annotations",
                 "generator_url", "stack_id", "service_id", "resolved_at", "search_text")
        data = json.dumps([dict(zip(names, r)) for r in rows], default=lambda t: t.isoformat())
        params = [now, now, data, delivery.receiver, delivery.group_key, delivery.status, now,
                  delivery.alert_count, truncated]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            delivery.pk = cursor.fetchone()[0]
        return delivery
    with transaction.atomic():
        ids = []
        if keys:
            linked = f"{LINKED[0].format(stack='%s')}, {LINKED[1].format(service='%s')}"
            row = f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, {linked}, %s, %s, %s, %s)"
            params = []
            for (fp, starts, ends, status, name, severity, labels, annotations, url, stack_id, service_id,
                 resolved_at, text) in rows:
                params += [fp, starts, ends, status, name, severity, json.dumps(labels), json.dumps(annotations),
                           url, stack_id, service_id, now, now, resolved_at, text]
            # In chunks: one statement for thousands of alerts exceeds SQLite's
            # limit on parameters; the transaction keeps it all or nothing.
            width = len(params) // len(keys)
            with connection.cursor() as cursor:
                for start in range(0, len(keys), UPSERT_CHUNK):
                    count = min(UPSERT_CHUNK, len(keys) - start)
                    values = "VALUES " + ", ".join([row] * count)
                    cursor.execute(UPSERT.format(table=Alert._meta.db_table, source=values),
                                   params[start * width:(start + count) * width])
                    ids += [r[0] for r in cursor.fetchall()]
        delivery.save()
        through = AlertDelivery.alerts.through
        through.objects.bulk_create([through(alertdelivery_id=delivery.pk, alert_id=i) for i in ids])
    return delivery


def connect_signals():
    from django.db.models.signals import post_delete, post_save

    from stacks.models import Stack

    for model in (Stack, Service):
        post_save.connect(Linker.forget, sender=model, dispatch_uid=f"linker-save-{model.__name__}")
        post_delete.connect(Linker.forget, sender=model, dispatch_uid=f"linker-delete-{model.__name__}")
