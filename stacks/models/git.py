"""Where a stack's definition comes from when it follows a Git repository: the
repository, branch and path, the credentials (a Secret's name, never the value),
the policy (plan only, or deploy each commit), how often to poll, the webhook's
secret, and what the last syncs saw. The definition itself is the stack's rows,
versioned like any other change (StackVersion, source "git", with its commit)."""
import secrets as pysecrets

from django.db import models
from django.utils import timezone

from stacks.models.definitions import Secret, Stack


def new_webhook_secret():
    return pysecrets.token_urlsafe(32)


class GitSource(models.Model):
    PLAN, DEPLOY = "plan", "deploy"
    POLICIES = [(PLAN, "plan only: show the commit, deploy on request"), (DEPLOY, "deploy each commit")]

    stack = models.OneToOneField(Stack, on_delete=models.CASCADE, related_name="git")
    url = models.CharField(max_length=500, help_text="https://, ssh:// or file:// (no credentials in it).")
    branch = models.CharField(max_length=200, default="main")
    path = models.CharField(max_length=300, blank=True, help_text="The project's directory inside the repository.")
    credential = models.ForeignKey(Secret, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="A token (https) or a private key (ssh), kept as a secret.")
    credential_kind = models.CharField(max_length=10, blank=True, choices=[("token", "token"), ("ssh", "ssh key")])
    username = models.CharField(max_length=100, blank=True, help_text="Sent with a token (https basic auth).")
    policy = models.CharField(max_length=10, choices=POLICIES, default=PLAN)
    poll_seconds = models.PositiveIntegerField(default=300, help_text="0: no polling (webhook or `stack sync`).")
    webhook_secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    last_seen = models.CharField(max_length=64, blank=True, help_text="The newest commit a sync saw on the branch.")
    applied = models.CharField(max_length=64, blank=True, help_text="The commit the stack's definition is at.")
    last_error = models.TextField(blank=True)
    last_error_commit = models.CharField(max_length=64, blank=True)
    checked = models.DateTimeField(null=True, blank=True)
    last_delivery = models.CharField(max_length=100, blank=True, help_text="The last webhook delivery id handled.")

    def __str__(self):
        return f"{self.stack.slug} ← {self.url}@{self.branch}"

    def due(self, now=None):
        if not self.poll_seconds:
            return False
        now = now or timezone.now()
        return self.checked is None or (now - self.checked).total_seconds() >= self.poll_seconds

    def credentials(self):
        """{"token"|"ssh_key": value, "username": …} for the Git seam; {} without."""
        if self.credential is None:
            return {}
        if self.credential_kind == "ssh":
            return {"ssh_key": self.credential.value}
        return {"token": self.credential.value, "username": self.username or "git"}
