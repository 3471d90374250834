"""The tutorial's three stacks as data, with its defects fixed.

What differs from the tutorial, and why:
- ports are published on 127.0.0.1; Prometheus runs without --web.enable-admin-api;
  Grafana's and Postgres' passwords are generated secrets, not "admin"/"password";
- one shared network, `observability`, owned by the monitoring stack, so Prometheus
  reaches web/api across stacks (the tutorial's `monitoring-network` was never created);
- api listens on 3000 like web (the tutorial scraped api:3001, where nothing listens);
- cAdvisor is published on 8088 (8080 is the web app's); web's two replicas get a
  port range instead of one port both would claim;
- fluentd logging uses fluentd-async, so an app starts while Fluentd is down, and
  the log routes match the tags the apps really use (app.*, db.*, cache.*: the
  tutorial only routed docker.**, so nothing reached Elasticsearch);
- the memory rule ignores containers without a limit (a zero limit divides to +Inf);
  the response-time rule the summary promised exists;
- Alertmanager posts to this panel, authenticated; receivers are named with
  [A-Za-z0-9_-]; inhibit rules use matchers and only labels alerts carry;
- the Grafana dashboard is the model itself (file provisioning does not read the
  API's {"dashboard": …} wrapper) and uses timeseries panels;
- the app's /metrics awaits prom-client's promise (it sent "[object Promise]").
"""
from django.db import transaction

from stacks import models as m
from stacks.defaults import app, logging, monitoring
from stacks.models import Secret, Stack
from stacks.validation import containment

DEFAULT_STACKS = [monitoring.STACK, logging.STACK, app.STACK]

LOCAL_IMAGES = {
    "prometheus": "panel-local/prometheus:latest",
    "alertmanager": "panel-local/alertmanager:latest",
    "node-exporter": "panel-local/node-exporter:latest",
}


SECRETS = [("grafana_admin_password", "monitoring"), ("app_postgres_password", "app")]  # (secret, its stack)


def load_defaults(stdout=None):
    """Create the default stacks that do not exist yet. An existing stack is left
    exactly as it is: a user's edits are never overwritten."""
    created = []
    for spec in DEFAULT_STACKS:
        if Stack.objects.filter(slug=spec["slug"]).exists():
            continue
        with transaction.atomic():
            create_stack(spec)
        created.append(spec["slug"])
    for name, slug in SECRETS:
        Secret.get_or_generate(name, Stack.objects.filter(slug=slug).first())
    return created


def create_stack(spec):
    stack = m.Stack.objects.create(**spec["stack"])
    for net in spec.get("networks", []):
        m.Network.objects.create(stack=stack, **net)
    for vol in spec.get("volumes", []):
        m.Volume.objects.create(stack=stack, **vol)
    for order, svc in enumerate(spec.get("services", [])):
        m.Service.objects.create(stack=stack, order=order, **svc)
    for f in spec.get("files", []):
        m.StackFile.objects.create(stack=stack, **f)
    for job in spec.get("scrape_jobs", []):
        m.ScrapeJob.objects.create(stack=stack, **job)
    for rule in spec.get("alert_rules", []):
        m.AlertRule.objects.create(stack=stack, **rule)
    receivers = {}
    for rec in spec.get("receivers", []):
        receivers[rec["name"]] = m.Receiver.objects.create(stack=stack, **rec)
    for order, route in enumerate(spec.get("routes", [])):
        route = dict(route)
        m.Route.objects.create(stack=stack, order=order, receiver=receivers[route.pop("receiver")], **route)
    for rule in spec.get("inhibit_rules", []):
        m.InhibitRule.objects.create(stack=stack, **rule)
    for ds in spec.get("datasources", []):
        m.GrafanaDatasource.objects.create(stack=stack, **ds)
    for dash in spec.get("dashboards", []):
        m.GrafanaDashboard.objects.create(stack=stack, **dash)
    for order, route in enumerate(spec.get("log_routes", [])):
        m.LogRoute.objects.create(stack=stack, order=order, **route)
    if spec.get("host_consent"):
        m.HostConsent.approve(stack, containment.of_stack(stack), via="defaults")
    return stack
