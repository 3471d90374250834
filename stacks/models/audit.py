"""The audit log's rows."""
from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditRecord(models.Model):
    """Who did what, when, from where: edits in the admin, silences,
    acknowledgements, token rotations, logins and failed logins. Operations
    (deploy, stop, …) are recorded as Deployments and noted here too."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    detail = models.TextField(blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.target}"
