"""The panel's bearer tokens, one per client: Alertmanager's webhook and the
Prometheus scrape of /metrics. Each is PANEL_WEBHOOK_TOKEN / PANEL_METRICS_TOKEN,
or a secret generated per install that `manage.py tokens rotate` replaces."""
import hmac
import os
import secrets

TOKENS = {  # kind → (environment variable, Secret row)
    "webhook": ("PANEL_WEBHOOK_TOKEN", "panel_webhook_token"),
    "metrics": ("PANEL_METRICS_TOKEN", "panel_metrics_token"),
}


def token(kind):
    from stacks.models import Secret

    env_name, secret_name = TOKENS[kind]
    return os.environ.get(env_name) or Secret.get_or_generate(secret_name)


def webhook_token():
    return token("webhook")


def metrics_token():
    return token("metrics")


def bearer_matches(header, expected):
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return False
    return hmac.compare_digest(credentials.strip().encode(), expected.encode())


def authorization_ok(header):
    """The webhook's check."""
    return bearer_matches(header, webhook_token())


def metrics_authorization_ok(header):
    return bearer_matches(header, metrics_token())


class TokenFromEnvironment(Exception):
    pass


def rotate(kind):
    """Replace a generated token with a new one. A token set in the environment
    is changed there, not here."""
    from stacks.models import Secret

    env_name, secret_name = TOKENS[kind]
    if os.environ.get(env_name):
        raise TokenFromEnvironment(f"The {kind} token comes from {env_name}: change it there, then redeploy.")
    Secret.objects.update_or_create(name=secret_name, defaults={"value": secrets.token_urlsafe(32)})


def stacks_using(kind):
    """Stacks whose rendered files carry the token."""
    from stacks.models import Stack

    if kind == "webhook":
        return Stack.objects.filter(services__role="alertmanager", receivers__kind="panel").distinct()
    return Stack.objects.filter(services__role="prometheus", scrape_jobs__panel_token=True).distinct()
