"""The audit log: `record(action, target, ...)` from anywhere that writes.

Who and from where come from the request when there is one (passed in, or the
current request that `RequestMiddleware` remembers), otherwise from the
command line (`user` given, no address). Logins, failed logins and every edit
made in the Django admin are recorded through signals."""
import contextvars
import logging

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from stacks.accounts.proxies import client_address
from stacks.models import AuditRecord

log = logging.getLogger("stacks.accounts.audit")
_current_request = contextvars.ContextVar("audit_request", default=None)


def record(action, target="", detail="", user=None, request=None):
    request = request or _current_request.get()
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user if request.user.is_authenticated else None
    username = user.get_username() if user is not None else ""
    token = getattr(request, "api_token", None)  # set by the API's authentication
    if token is not None:
        detail = f"{detail} (through API token {token.name!r} {token.key})".strip()
    entry = AuditRecord.objects.create(user=user, username=username[:150], action=action[:40],
                                       target=str(target)[:300], detail=detail,
                                       address=client_address(request))
    log.info("audit: %s %s %s", username or "-", action, target)
    return entry


class RequestMiddleware:
    """Remembers the current request, so that signal handlers can say from where."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    record("login", user.get_username(), user=user, request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    record("login failed", username, request=request)


_ADMIN_ACTIONS = {ADDITION: "admin add", CHANGE: "admin change", DELETION: "admin delete"}


@receiver(post_save, sender=LogEntry)
def _admin_edit(sender, instance, created, **kwargs):
    if not created:
        return
    detail = instance.get_change_message() if instance.action_flag == CHANGE else ""
    record(_ADMIN_ACTIONS.get(instance.action_flag, "admin"),
           f"{instance.content_type.model if instance.content_type else ''} {instance.object_repr}".strip(),
           detail=detail, user=instance.user)


def _connect_lockouts():
    @receiver(user_locked_out, weak=False)
    def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
        record("login locked", str(username or "")[:150], request=request,
               detail=f"locked after repeated failures from {ip_address}")


_connect_lockouts()
