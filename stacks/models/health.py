"""Service health and resource use, as the poller last saw them."""
from django.db import models
from django.utils import timezone

from stacks.models.definitions import Service


class ServiceHealth(models.Model):
    """Last known state of one service, written by the health poller."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=20, default="unknown")  # running, exited, missing, ...
    docker_health = models.CharField(max_length=20, blank=True)
    probe_ok = models.BooleanField(null=True)
    probe_detail = models.CharField(max_length=300, blank=True)
    running = models.PositiveSmallIntegerField(default=0)
    # Where it runs, as the engine said at the last poll: one entry per container
    # (Compose) or current task (Swarm) — {name, number, state, health, node,
    # desired, error}. A snapshot read with the row, never queried by its parts.
    replicas = models.JSONField(default=list, blank=True)
    # http://HOST:PORT of its UI port on a running container the panel deployed for
    # this service (found by its Compose labels), as the engine published it at the
    # last poll; empty when none. The only address the panel fetches from for a
    # service (graphs, silences, probes): never one taken from the rows.
    endpoint = models.CharField(max_length=300, blank=True)
    checked = models.DateTimeField(default=timezone.now)
    changed = models.DateTimeField(default=timezone.now)

    @property
    def healthy(self):
        return self.state == "running" and self.docker_health in ("", "healthy") and self.probe_ok is not False


class HealthChange(models.Model):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="health_changes")
    at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=200)

    class Meta:
        ordering = ["-id"]


class ResourceSample(models.Model):
    """CPU and memory of one service at one health poll, summed over its running
    containers: cumulative CPU time (the rate is taken between samples when read)
    and memory in use. Kept for settings.RESOURCE_SAMPLE_HOURS."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="resource_samples")
    at = models.DateTimeField(db_index=True)
    cpu_ns = models.BigIntegerField()
    mem_bytes = models.BigIntegerField()
    containers = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["service", "at"], name="resource_service_at")]


