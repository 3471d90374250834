"""The panel's bearer tokens, one per client: Alertmanager's webhook and the
Prometheus scrape of /metrics. Each is PANEL_WEBHOOK_TOKEN / PANEL_METRICS_TOKEN,
or a secret generated per install that `manage.py tokens rotate` replaces.

Checking a presented token reads no database row: a generated token is kept in
this process for TOKEN_TTL seconds, dropped when a Secret row changes here, and
read again when a presented token does not match (so a token rotated by another
process is accepted at once, and the old one within TOKEN_TTL)."""
import hmac
import os
import secrets
import threading
import time

from django.db.models.signals import post_delete, post_save

from stacks.models import Secret, Stack

TOKENS = {  # kind → (environment variable, Secret row)
    "webhook": ("PANEL_WEBHOOK_TOKEN", "panel_webhook_token"),
    "metrics": ("PANEL_METRICS_TOKEN", "panel_metrics_token"),
}
TOKEN_TTL = 60.0
_cached = {}  # kind → (value, monotonic time read)
_lock = threading.Lock()


def token(kind):
    env_name, secret_name = TOKENS[kind]
    return os.environ.get(env_name) or Secret.get_or_generate(secret_name)


def webhook_token():
    return token("webhook")


def metrics_token():
    return token("metrics")


def _token(kind, fresh=False):
    env = os.environ.get(TOKENS[kind][0])
    if env:
        return env
    now = time.monotonic()
    with _lock:
        value, at = _cached.get(kind, (None, 0.0))
        if not fresh and value is not None and now - at < TOKEN_TTL:
            return value
    value = token(kind)
    with _lock:
        _cached[kind] = (value, now)
    return value


def forget_token(**_kwargs):
    with _lock:
        _cached.clear()


def _matches(header, kind):
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return False
    presented = credentials.strip().encode()
    if hmac.compare_digest(presented, _token(kind).encode()):
        return True
    return hmac.compare_digest(presented, _token(kind, fresh=True).encode())


def authorization_ok(header):
    """The webhook's check."""
    return _matches(header, "webhook")


def metrics_authorization_ok(header):
    return _matches(header, "metrics")


class TokenFromEnvironment(Exception):
    pass


def rotate(kind):
    """Replace a generated token with a new one. A token set in the environment
    is changed there, not here."""
    env_name, secret_name = TOKENS[kind]
    if os.environ.get(env_name):
        raise TokenFromEnvironment(f"The {kind} token comes from {env_name}: change it there, then redeploy.")
    Secret.objects.update_or_create(name=secret_name, defaults={"value": secrets.token_urlsafe(32)})


def stacks_using(kind):
    """Stacks whose rendered files carry the token."""
    if kind == "webhook":
        return Stack.objects.filter(services__role="alertmanager", receivers__kind="panel").distinct()
    return Stack.objects.filter(services__role="prometheus", scrape_jobs__panel_token=True).distinct()


def connect_signals():
    post_save.connect(forget_token, sender=Secret, dispatch_uid="webhook-token-save")
    post_delete.connect(forget_token, sender=Secret, dispatch_uid="webhook-token-delete")
