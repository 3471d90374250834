"""The panel's own /metrics, in Prometheus' text format, scraped by the default
monitoring stack with the panel's metrics token (or read by a logged-in user).
Counts only: no labels carry secrets or user text."""
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from stacks.accounts.tokens import metrics_authorization_ok
from stacks.models import Alert, Deployment, ServiceHealth, Stack


@login_not_required
def metrics(request):
    if not request.user.is_authenticated and not metrics_authorization_ok(request.headers.get("Authorization")):
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    Gauge("panel_stacks", "Stacks defined", registry=registry).set(Stack.objects.count())
    alerts = Gauge("panel_alerts", "Stored alert occurrences by status", ["status"], registry=registry)
    for row in Alert.objects.order_by().values("status").annotate(n=Count("id")):
        alerts.labels(row["status"]).set(row["n"])
    ops = Gauge("panel_operations", "Recorded operations by action and outcome", ["action", "status"],
                registry=registry)
    for row in Deployment.objects.order_by().values("action", "status").annotate(n=Count("id")):
        ops.labels(row["action"], row["status"]).set(row["n"])
    health = Gauge("panel_services", "Services by last polled state", ["state"], registry=registry)
    for row in ServiceHealth.objects.order_by().values("state").annotate(n=Count("id")):
        health.labels(row["state"]).set(row["n"])
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
