"""The webhook's bearer token: PANEL_WEBHOOK_TOKEN, or one generated per install."""
import hmac
import os


def webhook_token():
    from stacks.models import Secret

    return os.environ.get("PANEL_WEBHOOK_TOKEN") or Secret.get_or_generate("panel_webhook_token")


def authorization_ok(header):
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return False
    return hmac.compare_digest(credentials.strip().encode(), webhook_token().encode())
