"""An admin's consent to one host option of one service of a stack: the exact
text stacks.validation.containment names it by. A new or changed option is a
different text, so it needs a new approval."""
from django.conf import settings
from django.db import models

from stacks.models.definitions import Stack


class HostConsent(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="host_consents")
    service = models.CharField(max_length=63, blank=True, help_text="Empty for a top-level key of the stack.")
    option = models.TextField(help_text="The option exactly as validation names it, e.g. \u201ccap_add: NET_ADMIN\u201d.")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    approved_via = models.CharField(max_length=40, default="admin",
                                    help_text="admin, import page, command line, defaults or migration.")
    approved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stack", "service", "option"]
        constraints = [models.UniqueConstraint(fields=["stack", "service", "option"], name="one_consent_per_option")]

    def __str__(self):
        return f"{self.stack.slug}: {self.service + ': ' if self.service else ''}{self.option}"

    @property
    def approver(self):
        return self.approved_by.get_username() if self.approved_by else self.approved_via

    @classmethod
    def approve(cls, stack, options, user=None, via="admin"):
        """Record consent for each of `options` (containment.HostOption); returns how many were new."""
        new = 0
        for o in options:
            _, created = cls.objects.get_or_create(
                stack=stack, service=o.service, option=o.option,
                defaults={"approved_by": user if user is not None and user.is_authenticated else None,
                          "approved_via": via})
            new += created
        return new
