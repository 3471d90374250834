"""Where a stack's definition came from: every change of it is a version, a
snapshot of all its rows (stacks.versions.snapshot), numbered per stack."""
from django.conf import settings
from django.db import models

from stacks.models.definitions import Stack


class StackVersion(models.Model):
    WEB, ADMIN, CLI, GIT, ROLLBACK, RESTORE, DEPLOY = "web", "admin", "cli", "git", "rollback", "restore", "deploy"
    SOURCES = [(v, v) for v in (WEB, ADMIN, CLI, GIT, ROLLBACK, RESTORE, DEPLOY)]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=SOURCES, help_text="Where the change came from.")
    note = models.CharField(max_length=200, blank=True, help_text='"rollback to #12", a Git commit, …')
    definition = models.JSONField(help_text="Every row of the stack, normalised (stacks.versions.snapshot).")
    digest = models.CharField(max_length=64, help_text="sha256 of the definition: an unchanged save is no version.")
    files = models.JSONField(default=dict, blank=True, help_text="The rendered bundle, secrets masked.")

    class Meta:
        ordering = ["-number"]
        unique_together = [("stack", "number")]

    def __str__(self):
        return f"{self.stack.slug} v{self.number}"

    @property
    def where(self):
        return f"{self.source} ({self.note})" if self.note else self.source

    def previous(self):
        return StackVersion.objects.filter(stack_id=self.stack_id, number__lt=self.number).order_by("-number").first()
