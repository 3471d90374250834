"""What other stacks' validation needs from a stack."""
from django.db import models

from stacks.models.definitions import Stack


class StackFootprint(models.Model):
    """The host ports a stack publishes and the networks its services join, derived
    from its Compose document once per change (stacks.validation.footprint), so validating
    one stack never renders the others. Deleted by database triggers when the
    stack's services, networks or slug change; derived again when next needed."""

    stack = models.OneToOneField(Stack, on_delete=models.CASCADE, related_name="footprint")
    source_hash = models.CharField(max_length=64)


class HostPortClaim(models.Model):
    footprint = models.ForeignKey(StackFootprint, on_delete=models.CASCADE, related_name="ports")
    service = models.CharField(max_length=63)
    ip = models.CharField(max_length=45)
    proto = models.CharField(max_length=5)
    port = models.PositiveIntegerField(db_index=True)


class NetworkMember(models.Model):
    footprint = models.ForeignKey(StackFootprint, on_delete=models.CASCADE, related_name="members")
    service = models.CharField(max_length=63, db_index=True)
    network = models.CharField(max_length=127, db_index=True, help_text="The engine's network name.")


