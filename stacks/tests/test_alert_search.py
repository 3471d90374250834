"""Alert search: every word a prefix, best matches first (PostgreSQL full-text
search on a GIN index); SQLite keeps the substring scan. On PostgreSQL, every
query of the alerts page reads an index of the alerts table, never all of it."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stacks.models import Alert, Stack

pytestmark = pytest.mark.django_db


def add(name, summary, minutes_ago, status="resolved", instance="web-1:9100", **extra):
    labels = {"alertname": name, "instance": instance, "job": "node"}
    return Alert.objects.create(fingerprint=f"{name}{minutes_ago}"[:64], name=name, status=status, labels=labels,
                                annotations={"summary": summary},
                                starts_at=timezone.now() - timedelta(minutes=minutes_ago), **extra)


def shown(html):
    return re.findall(r'data-alertname="([^"]+)"', html)


def test_it_finds_alerts_by_what_they_say(as_viewer):
    add("HighCPUUsage", "CPU above 90% on web-1", 5)
    add("DiskFull", "disk almost full", 3)
    html = as_viewer.get("/alerts/?q=disk").content.decode()
    assert shown(html) == ["DiskFull"]


@pytest.mark.postgres
def test_every_word_is_a_prefix_and_all_must_match(as_viewer):
    add("HighCPUUsage", "CPU above 90% on web-1", 5)
    add("HighMemory", "memory above 90% on db-1", 4, instance="db-1:9100")
    assert shown(as_viewer.get("/alerts/?q=highcpu+abo").content.decode()) == ["HighCPUUsage"]
    assert shown(as_viewer.get("/alerts/?q=HIGH+90").content.decode()) == ["HighMemory", "HighCPUUsage"]  # equal rank: recent first
    assert shown(as_viewer.get("/alerts/?q=web-1:9100").content.decode()) == ["HighCPUUsage"]
    assert shown(as_viewer.get("/alerts/?q=high+nothing").content.decode()) == []


@pytest.mark.postgres
def test_the_best_match_comes_first(as_viewer):
    add("DiskFull", "disk full: disk sda, disk sdb", 60)  # older, but says "disk" four times
    add("Backup", "backup wrote to disk", 1)
    assert shown(as_viewer.get("/alerts/?q=disk").content.decode()) == ["DiskFull", "Backup"]
    # without a search the most recent and firing come first, as before
    assert shown(as_viewer.get("/alerts/").content.decode()) == ["Backup", "DiskFull"]


SEQ_SCAN_OF_ALERTS = re.compile(r"Seq Scan on stacks_alert(?!\w)")


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["", "status=firing", "status=resolved", "severity=critical", "stack=monitoring",
                                   "q=disk", "q=disk+full&status=resolved", "q=web&stack=monitoring&severity=warning"])
def test_the_alerts_page_reads_indexes_not_the_whole_table(as_viewer, defaults, query):
    """The planner is told to avoid sequential scans (enable_seqscan off): a table
    this small is cheaper to scan, so only this makes its choice say whether an
    index can serve each query. bench/pages.py shows the plans' cost at 1,000,000
    rows."""
    stack = Stack.objects.get(slug="monitoring")
    for i in range(30):
        add(f"Alert{i % 4}", f"disk full on web-{i}", i, status="firing" if i % 3 else "resolved", stack=stack,
            severity="critical" if i % 2 else "warning")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE stacks_alert")
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection) as queries:
        assert as_viewer.get(f"/alerts/?{query}").status_code == 200
    alert_queries = [q["sql"] for q in queries.captured_queries if re.search(r'"stacks_alert"(?!\w)', q["sql"])]
    assert alert_queries
    for sql in alert_queries:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert not SEQ_SCAN_OF_ALERTS.search(plan), f"{sql}\n{plan}"
