"""The panel's own events (deploy failed, unhealthy, drift, a broken alert path,
an acknowledgement, alerts held during a deploy), where they are delivered
(the stack's Alertmanager, notification URLs through Apprise) and each
delivery's outcome; and what the panel watches per stack (StackWatch)."""
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from stacks.models.definitions import Stack


class Event(models.Model):
    DEPLOY_FAILED, DEPLOY_SUCCEEDED, UNHEALTHY = "deploy-failed", "deploy-succeeded", "unhealthy"
    DRIFT, NOT_DEPLOYED, IMAGE_UPDATE = "drift", "not-deployed", "image-update"
    ALERT_PATH, ACKNOWLEDGED, ALERTS_HELD = "alert-path", "acknowledged", "alerts-held"
    KINDS = [(DEPLOY_FAILED, "deploy failed"), (DEPLOY_SUCCEEDED, "deploy succeeded"),
             (UNHEALTHY, "service unhealthy"), (DRIFT, "drifted from the last deployment"),
             (NOT_DEPLOYED, "changes not deployed"), (IMAGE_UPDATE, "image update available"),
             (ALERT_PATH, "alert delivery broken"), (ACKNOWLEDGED, "alert acknowledged"),
             (ALERTS_HELD, "alerts held during a deploy")]
    # Sent to destinations unless a destination names its kinds: succeeded
    # deploys only when asked; held alerts are a timeline note.
    BY_DEFAULT = {DEPLOY_FAILED, UNHEALTHY, DRIFT, NOT_DEPLOYED, IMAGE_UPDATE, ALERT_PATH, ACKNOWLEDGED}
    NEVER_SENT = {ALERTS_HELD}

    stack = models.ForeignKey(Stack, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    service = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20, choices=KINDS)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    by = models.CharField(max_length=150, blank=True, help_text="Who (an acknowledgement, an operation).")
    # A condition (unhealthy, drift, a broken path) lasts until `ended`; a
    # one-off (a failed deploy, an acknowledgement) ends when it is recorded.
    condition = models.BooleanField(default=True)
    started = models.DateTimeField(default=timezone.now)
    ended = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)  # e.g. the silence of held alerts

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [models.Index(fields=["stack", "kind", "service"], condition=models.Q(ended__isnull=True),
                                name="event_open"),
                   models.Index(fields=["stack", "-started"], name="event_stack_recent")]

    def __str__(self):
        return self.title

    @property
    def is_open(self):
        return self.condition and self.ended is None

    @property
    def labels(self):
        """As an alert in the stack's Alertmanager."""
        name = "Panel" + "".join(word.capitalize() for word in self.kind.split("-"))  # PanelDeployFailed
        return {"alertname": name, "event": self.kind, "stack": self.stack.slug if self.stack else "",
                "service": self.service, "severity": "info" if self.kind in (self.ACKNOWLEDGED,
                                                                              self.DEPLOY_SUCCEEDED) else "warning"}


event_kind = RegexValidator(r"^[a-z-]+$", "Event kinds, as `notify list` names them.")


class Destination(models.Model):
    """A notification URL (any Apprise URL: json://, slack://, mailto://, ntfy://…)."""

    name = models.SlugField(max_length=63, unique=True)
    url = models.TextField(help_text="An Apprise URL; it may hold a token, so it is never shown whole.")
    events = models.JSONField(default=list, blank=True,
                              help_text="Event kinds to send; empty: all but succeeded deploys.")
    stack = models.ForeignKey(Stack, null=True, blank=True, on_delete=models.CASCADE, related_name="destinations",
                              help_text="Only this stack's events; empty: every stack's.")
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_sent = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        known = {k for k, _ in Event.KINDS}
        if not isinstance(self.events, list) or not set(self.events) <= known:
            raise ValidationError({"events": f"A list of event kinds among: {', '.join(sorted(known))}."})
        if "://" not in self.url:
            raise ValidationError({"url": "An Apprise URL such as json://host/path or slack://tokens."})

    def wants(self, event):
        if not self.enabled or (self.stack_id and self.stack_id != event.stack_id) or event.kind in Event.NEVER_SENT:
            return False
        return event.kind in self.events if self.events else event.kind in Event.BY_DEFAULT

    @property
    def shown_url(self):
        """Scheme and host only: the rest of an Apprise URL is often its token."""
        parts = urlsplit(self.url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "") if parts.scheme != "mailto" else ""
        return f"{parts.scheme}://{host}/…" if host else f"{parts.scheme}://…"


class EventDelivery(models.Model):
    """One event (or its end) to one destination; the stack's Alertmanager when
    destination is empty. An outbox row: beat sends what is due, with backoff."""
    PENDING, SENT, FAILED = "pending", "sent", "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(Destination, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="deliveries")
    resolved = models.BooleanField(default=False, help_text="Tells that the event ended.")
    status = models.CharField(max_length=10, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    next_try = models.DateTimeField(default=timezone.now)
    sent = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["next_try"], condition=models.Q(status="pending"), name="delivery_due")]

    @property
    def target(self):
        return self.destination.name if self.destination_id else "the stack's Alertmanager"


class StackWatch(models.Model):
    """What the panel last found when it watched a stack: its alert path, its
    drift from the last deployment, and the hash its rows render to now."""

    stack = models.OneToOneField(Stack, on_delete=models.CASCADE, related_name="watch")
    path_ok = models.BooleanField(null=True, blank=True)  # None: not checked (or no Prometheus/Alertmanager)
    path_reason = models.TextField(blank=True)
    path_checked = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    counters = models.JSONField(default=dict, blank=True)  # the error counters at the last check
    rendered_hash = models.CharField(max_length=64, blank=True)
    drift = models.TextField(blank=True, help_text="How the engine differs from the last deployment.")
    drift_checked = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"watch of {self.stack}"

    @classmethod
    def of(cls, stack):
        return cls.objects.get_or_create(stack=stack)[0]
