"""Retention of alert history: resolved occurrences older than
ALERT_RETENTION_DAYS go, in small batches, each its own short transaction that
skips rows a webhook delivery holds, so pruning never makes a delivery wait.
Firing alerts are never pruned; deliveries go once none of their alerts is left."""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from stacks.models import Alert, AlertDelivery

log = logging.getLogger(__name__)
BATCH = 2000
# A delivery none of whose alerts is left (AlertDelivery.alert_ids).
NO_ALERT_LEFT = {
    "postgresql": "NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(stacks_alertdelivery.alert_ids) e "
                  "JOIN stacks_alert a ON a.id = e.value::bigint)",
    "sqlite": "NOT EXISTS (SELECT 1 FROM json_each(stacks_alertdelivery.alert_ids) e "
              "JOIN stacks_alert a ON a.id = e.value)",
}


def _batches(qs, batch):
    while True:
        with transaction.atomic():
            ids = list(qs.select_for_update(skip_locked=True).values_list("id", flat=True)[:batch])
            if ids:
                qs.model.objects.filter(id__in=ids).delete()
        if not ids:
            return
        yield len(ids)


def prune(days=None, batch=BATCH, now=None):
    """Delete expired history; returns (alerts, deliveries) deleted."""
    days = settings.ALERT_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # (status, starts_at) is indexed: an occurrence resolved before the cutoff
    # started before it too.
    expired = (Alert.objects.filter(status="resolved", starts_at__lt=cutoff)
               .filter(Q(resolved_at__lt=cutoff) | Q(resolved_at__isnull=True, last_received__lt=cutoff))
               .order_by("starts_at"))
    alerts = sum(_batches(expired, batch))
    orphans = (AlertDelivery.objects.filter(received_at__lt=cutoff)
               .filter(RawSQL(NO_ALERT_LEFT[connection.vendor], [], output_field=BooleanField()))
               .order_by("received_at"))
    deliveries = sum(_batches(orphans, batch))
    if alerts or deliveries:
        log.info("Pruned %d alert(s) and %d delivery record(s) older than %d days", alerts, deliveries, days)
    return alerts, deliveries
