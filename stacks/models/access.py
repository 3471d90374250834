"""Who may do what on which stack: roles given per stack to a team (a Django
group) or a user, and the API tokens a user holds. The checks themselves are in
stacks.accounts.access; these rows only record."""
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from stacks.models.definitions import Stack

VIEWER, OPERATOR = "viewer", "operator"
ROLES = [(VIEWER, "viewer"), (OPERATOR, "operator")]


class StackRole(models.Model):
    """A team or a user is viewer or operator of one stack. Global roles (the
    `viewers` and `operators` groups) still cover every stack."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="stack_roles")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="stack_roles",
                              help_text="A team: every member has the role.")
    role = models.CharField(max_length=10, choices=ROLES, default=VIEWER)
    # "oidc": given at a single sign-on login from the group mapping, replaced at the next one.
    source = models.CharField(max_length=10, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(user__isnull=False, group__isnull=True)
                                   | models.Q(user__isnull=True, group__isnull=False),
                                   name="stackrole_user_or_group"),
            models.UniqueConstraint(fields=["stack", "user"], name="stackrole_one_per_user"),
            models.UniqueConstraint(fields=["stack", "group"], name="stackrole_one_per_group"),
        ]

    def __str__(self):
        who = f"team {self.group}" if self.group_id else str(self.user)
        return f"{who}: {self.role} of {self.stack}"

    def clean(self):
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("Give the role to a user or to a team, not both.")


TOKEN_PREFIX = "pnl_"


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def issue(self, user, name, write=False, stacks=()):
        """A new token: (row, secret). The secret is shown once; only its sha256 is kept."""
        key = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{key}_{secrets.token_urlsafe(32)}"
        token = self.create(user=user, name=name[:80], key=key, digest=_digest(secret), write=write)
        token.stacks.set(stacks)
        return token, secret

    def presented(self, secret):
        """The live token with this secret, or None."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        return (self.select_related("user").filter(digest=_digest(secret), revoked__isnull=True,
                                                   user__is_active=True).first())


class ApiToken(models.Model):
    """A user's token for the REST API: read-only or read-write, optionally
    limited to some stacks; never more than its user may do."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    key = models.CharField(max_length=8, unique=True, help_text="Public part of the token, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True)
    write = models.BooleanField(default=False, help_text="May deploy, plan and acknowledge (as its user may).")
    stacks = models.ManyToManyField(Stack, blank=True, related_name="api_tokens",
                                    help_text="Only these stacks; none chosen: every stack its user may see.")
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} ({TOKEN_PREFIX}{self.key}…)"

    def used(self):
        """Note the use, at most once a minute (a write per request would be a lot)."""
        now = timezone.now()
        if self.last_used is None or (now - self.last_used).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used=now)
            self.last_used = now

    def revoke(self):
        if self.revoked is None:
            self.revoked = timezone.now()
            self.save(update_fields=["revoked"])
