"""Old resolved alerts are pruned after ALERT_RETENTION_DAYS, by Celery beat, in batches."""
from datetime import timedelta

import pytest
from django.utils import timezone

from stacks.alerting.retention import prune
from stacks.models import Alert, AlertDelivery

pytestmark = pytest.mark.django_db


def occurrence(fp, days_ago, status="resolved", resolved_days_ago=None):
    now = timezone.now()
    resolved = None if status == "firing" else now - timedelta(days=resolved_days_ago or days_ago)
    return Alert.objects.create(fingerprint=fp, name=fp, status=status, starts_at=now - timedelta(days=days_ago),
                                resolved_at=resolved)


def test_it_prunes_resolved_alerts_older_than_the_retention_in_batches(settings):
    settings.ALERT_RETENTION_DAYS = 90
    old = [occurrence(f"old{i}", 120) for i in range(5)]
    kept = [occurrence("recent", 10), occurrence("still-firing", 400, status="firing"),
            occurrence("resolved-lately", 100, resolved_days_ago=30)]
    AlertDelivery.objects.create(receiver="panel", group_key="g", status="resolved",
                                 received_at=timezone.now() - timedelta(days=120), alert_ids=[a.pk for a in old])
    mixed = AlertDelivery.objects.create(receiver="panel", group_key="g", status="firing",
                                         received_at=timezone.now() - timedelta(days=400),
                                         alert_ids=[old[0].pk, kept[1].pk])

    assert prune(batch=2) == (5, 1)
    assert sorted(Alert.objects.values_list("fingerprint", flat=True)) == ["recent", "resolved-lately",
                                                                           "still-firing"]
    assert list(AlertDelivery.objects.values_list("pk", flat=True)) == [mixed.pk]
    assert list(mixed.alerts.values_list("fingerprint", flat=True)) == ["still-firing"]
    assert prune() == (0, 0)


def test_celery_beat_runs_the_pruning(settings):
    from controlpanel.celery import app
    from stacks.tasks import prune_alerts

    settings.ALERT_RETENTION_DAYS = 1
    occurrence("two-days", 2)
    entry = settings.CELERY_BEAT_SCHEDULE["prune-alerts"]
    assert entry["task"] == prune_alerts.name == "stacks.tasks.prune_alerts"
    assert prune_alerts.name in app.tasks
    prune_alerts.apply()  # the task as beat's worker runs it, in this process
    assert not Alert.objects.exists()
