"""POST /webhooks/alertmanager/: where Alertmanager delivers alerts.

Status codes follow what Alertmanager does with them: 2xx done; 4xx final (a
payload we will never accept); 5xx retried (503 when we cannot store it now)."""
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stacks.accounts.tokens import authorization_ok
from stacks.alerting.payload import Outage, Rejected, checked, save
from stacks.views.guards import BodyTooLarge, body_limit, read_body

log = logging.getLogger(__name__)


def _error(status, message, **headers):
    response = JsonResponse({"error": message}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


@csrf_exempt
@login_not_required
@require_POST
@body_limit("WEBHOOK_MAX_BYTES")
def alertmanager_webhook(request):
    try:
        if not authorization_ok(request.headers.get("Authorization")):
            return _error(401, "Missing or wrong bearer token.", WWW_Authenticate='Bearer realm="alertmanager"')
    except DatabaseError:
        log.warning("Webhook: database unavailable while checking the token")
        return _error(503, "The panel's database is unavailable; retry later.", Retry_After="5")
    if request.content_type != "application/json":
        return _error(415, f"The body must be application/json (Alertmanager's), not {request.content_type or 'untyped'}.")
    try:
        # Content-Length or chunked (no length: Alertmanager may stream it); 413 past the limit.
        body = read_body(request, settings.WEBHOOK_MAX_BYTES)
    except BodyTooLarge:
        return _error(413, f"The body is larger than {settings.WEBHOOK_MAX_BYTES} bytes.")
    try:
        payload, alerts, truncated = checked(body)
        delivery = save(payload, alerts, truncated)
    except Rejected as exc:
        return _error(exc.status, exc.message)
    except Outage:
        log.exception("Webhook: could not store %d alert(s); Alertmanager will retry", len(alerts))
        return _error(503, "The panel's database is unavailable; retry later.", Retry_After="5")
    return JsonResponse({"stored": delivery.alert_count, "delivery": delivery.pk})
