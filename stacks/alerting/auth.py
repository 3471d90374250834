"""The webhook's bearer token: PANEL_WEBHOOK_TOKEN, or one generated per install.

Checking a delivery's token reads no database row: the generated token is kept
in this process for TOKEN_TTL seconds, dropped when the Secret row changes here,
and read again when a presented token does not match (so a token rotated by
another process is accepted at once, and the old one within TOKEN_TTL)."""
import hmac
import os
import threading
import time

TOKEN_TTL = 60.0
_cached = {"value": None, "at": 0.0}
_lock = threading.Lock()


def webhook_token():
    from stacks.models import Secret

    return os.environ.get("PANEL_WEBHOOK_TOKEN") or Secret.get_or_generate("panel_webhook_token")


def _token(fresh=False):
    env = os.environ.get("PANEL_WEBHOOK_TOKEN")
    if env:
        return env
    now = time.monotonic()
    with _lock:
        if not fresh and _cached["value"] is not None and now - _cached["at"] < TOKEN_TTL:
            return _cached["value"]
    value = webhook_token()
    with _lock:
        _cached.update(value=value, at=now)
    return value


def forget_token(**_kwargs):
    with _lock:
        _cached.update(value=None, at=0.0)


def authorization_ok(header):
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return False
    presented = credentials.strip().encode()
    if hmac.compare_digest(presented, _token().encode()):
        return True
    return hmac.compare_digest(presented, _token(fresh=True).encode())


def connect_signals():
    from django.db.models.signals import post_delete, post_save

    from stacks.models import Secret

    post_save.connect(forget_token, sender=Secret, dispatch_uid="webhook-token-save")
    post_delete.connect(forget_token, sender=Secret, dispatch_uid="webhook-token-delete")
