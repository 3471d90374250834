"""Alerts as Alertmanager delivered them."""
from django.conf import settings
from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from stacks.models.definitions import Service, Stack


class Alert(models.Model):
    """One occurrence of an alert: (fingerprint, startsAt)."""

    fingerprint = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    # status, severity and stack are indexed together with starts_at (Meta.indexes).
    status = models.CharField(max_length=10)  # firing | resolved
    name = models.CharField(max_length=200)
    severity = models.CharField(max_length=40, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    generator_url = models.TextField(blank=True)
    # Lower-cased name, summary, instance and job: what the alerts page searches,
    # without extracting JSON from every row.
    search_text = models.TextField(blank=True, editable=False)
    # Links, not constraints: the webhook writes only ids that exist when it
    # stores the alert (checked in its statement; a constraint's trigger per row
    # was a fifth of what storing an alert cost), and
    # deleting a stack or service through Django clears them; an id left behind
    # by a deletion racing a delivery reads as no stack (select_related's outer
    # join). Indexed by alert_stack_recent and the service index.
    stack = models.ForeignKey(Stack, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                              db_index=False, db_constraint=False)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                                db_constraint=False)
    first_received = models.DateTimeField(default=timezone.now)
    # The last delivery that wrote it; an unchanged repeat soon after is recorded
    # on its delivery only (stacks.alerting.ingest.SEEN_PRECISION).
    last_received = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        db_index=False)  # Meta.indexes: only acknowledged alerts
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # An acknowledgement silences the alert in Alertmanager until it resolves:
    # the panel expires that silence itself (stacks.alerting.acks).
    # db_default: the webhook inserts with raw SQL (stacks.alerting.ingest).
    ack_comment = models.CharField(max_length=500, blank=True, db_default="")
    silence_id = models.CharField(max_length=64, blank=True, db_default="")
    silence_ends_at = models.DateTimeField(null=True, blank=True)
    silence_expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_occurrence")]
        # Every filter of the alerts page reads an index in starts_at order or one
        # that holds only the firing alerts, so a page costs the same with 1,000
        # or 1,000,000 rows stored: resolved ones read alert_recent and pass over
        # the firing ones. On PostgreSQL a generated tsvector column with a GIN
        # index serves search (migration 0005; stacks.alerting.search). Each
        # index is also work for every alert the webhook stores: no more of them.
        indexes = [models.Index(fields=["-starts_at", "-id"], name="alert_recent"),
                   models.Index(fields=["stack", "-starts_at"], name="alert_stack_recent"),
                   models.Index(fields=["severity", "-starts_at"], name="alert_severity_recent"),
                   models.Index(fields=["stack", "-starts_at"], condition=models.Q(status="firing"),
                                name="alert_firing"),
                   models.Index(fields=["acknowledged_by"], condition=models.Q(acknowledged_by__isnull=False),
                                name="alert_acknowledged_by")]
        ordering = ["-starts_at", "-id"]
        permissions = [("silence_alert", "Can silence and acknowledge alerts")]

    def __str__(self):
        return f"{self.name} ({self.status})"

    @property
    def summary(self):
        return self.annotations.get("summary") or self.annotations.get("description") or ""

    @staticmethod
    def make_search_text(labels, annotations):
        parts = [labels.get("alertname", ""), annotations.get("summary", ""), labels.get("instance", ""),
                 labels.get("job", "")]
        return "\n".join(filter(None, parts)).lower()

    @property
    def source_link(self):
        """generatorURL, when a browser can open it (http or https)."""
        url = self.generator_url
        return url if url.lower().startswith(("http://", "https://")) else ""

    def save(self, *args, **kwargs):
        self.search_text = self.make_search_text(self.labels, self.annotations)
        super().save(*args, **kwargs)

    @property
    def deliveries(self):
        return AlertDelivery.objects.of_alert(self.pk)


class AlertDeliveryQuerySet(models.QuerySet):
    def of_alert(self, alert_id):
        """The deliveries that carried this alert. PostgreSQL: `alert_ids @> [id]`
        on a GIN index (migration 0012); SQLite: a scan of the JSON arrays."""
        if connections[self.db].vendor == "postgresql":
            return self.filter(alert_ids__contains=[alert_id])
        return self.filter(RawSQL(f"EXISTS (SELECT 1 FROM json_each({self.model._meta.db_table}.alert_ids) "
                                  "WHERE value = %s)", [alert_id], output_field=models.BooleanField()))


class AlertDelivery(models.Model):
    """One webhook message from Alertmanager, kept for history.

    The alerts it carried are one array of ids in the delivery's own row, not a
    row per alert: a delivery of 100 alerts writes one row."""

    receiver = models.CharField(max_length=200)
    group_key = models.TextField()
    status = models.CharField(max_length=10)
    received_at = models.DateTimeField(default=timezone.now)
    alert_count = models.PositiveIntegerField(default=0)
    truncated = models.PositiveIntegerField(default=0)
    alert_ids = models.JSONField(default=list, blank=True, editable=False)

    objects = AlertDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["received_at"], name="delivery_received")]  # retention

    @property
    def alerts(self):
        """Those of its alerts that are still kept."""
        return Alert.objects.filter(id__in=self.alert_ids)


