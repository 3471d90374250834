"""Rendering: a stack's rows in, its bundle out ({path: text} and a content hash).

Pure and deterministic: the same rows give the same bytes. Every YAML and JSON
file is dumped from data structures; no text is pasted into templates."""
import hashlib
import re
from dataclasses import dataclass, field

from django.conf import settings

from . import alertmanager, compose, grafana, logs, prometheus
from .yamlio import dump_json, dump_yaml

COMPOSE_FILE = "docker-compose.yml"
PROMETHEUS_FILE = "prometheus/prometheus.yml"
RULES_FILE = "prometheus/rules/alerts.yml"
ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
DATASOURCES_FILE = "grafana/provisioning/datasources/datasources.yml"
PROVIDERS_FILE = "grafana/provisioning/dashboards/dashboards.yml"
DASHBOARDS_DIR = "grafana/dashboards"
FLUENTD_FILE = "fluentd/conf/fluent.conf"
LOGSTASH_FILE = "logstash/pipeline/logstash.conf"

SECRET_REF = re.compile(r"\$\{secret:([a-z0-9][a-z0-9_-]*)\}")
MASK = "••••••••"


class Secrets:
    """Expands ${secret:NAME} and remembers which values a bundle carries, so
    that they can be masked wherever a bundle is shown or logged."""

    def __init__(self, values):
        self.values = values  # {name: value}
        self.used = set()
        self.missing = set()

    def expand(self, text):
        def sub(match):
            name = match.group(1)
            if name not in self.values:
                self.missing.add(name)
                return match.group(0)
            self.used.add(self.values[name])
            return self.values[name]

        # Literal dollars the user typed are escaped for Compose first; the secret
        # references are then replaced by their values, escaped the same way.
        parts, last = [], 0
        for m in SECRET_REF.finditer(text):
            parts.append(compose.escape_dollars(text[last:m.start()]))
            parts.append(compose.escape_dollars(sub(m)))
            last = m.end()
        parts.append(compose.escape_dollars(text[last:]))
        return "".join(parts)

    def add(self, value):
        self.used.add(value)
        return value


@dataclass
class Bundle:
    stack_slug: str
    files: dict  # {relative path: text}
    compose: dict  # the Compose document the engine applies
    secret_values: set = field(default_factory=set, repr=False)
    missing_secrets: set = field(default_factory=set)

    @property
    def hash(self):
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path].encode() + b"\0")
        return digest.hexdigest()

    def mask(self, text):
        for value in sorted(self.secret_values, key=len, reverse=True):
            if value:
                text = text.replace(value, MASK)
        return text

    def masked_files(self):
        return {path: self.mask(text) for path, text in self.files.items()}


def panel_webhook_url():
    return settings.PANEL_URL_FOR_STACKS.rstrip("/") + "/webhooks/alertmanager/"


def render_bundle(stack):
    from stacks.alerting.auth import metrics_token, webhook_token
    from stacks.models import Secret

    services = list(stack.services.all())
    networks = list(stack.networks.all())
    volumes = list(stack.volumes.all())
    roles = {svc.role for svc in services}
    secrets = Secrets(dict(Secret.objects.values_list("name", "value")))
    files = {}

    doc = compose.compose_dict(stack, services, networks, volumes, secrets)
    files[COMPOSE_FILE] = dump_yaml(doc)

    if "prometheus" in roles:
        rules = [r for r in stack.alert_rules.all() if r.enabled]
        am_targets = [f"{svc.name}:{svc.ui_port or 9093}" for svc in services if svc.role == "alertmanager"]
        jobs = list(stack.scrape_jobs.all())
        token = secrets.add(metrics_token()) if any(j.panel_token for j in jobs) else ""
        files[PROMETHEUS_FILE] = dump_yaml(prometheus.prometheus_dict(stack, jobs, am_targets, bool(rules), token))
        if rules:
            files[RULES_FILE] = dump_yaml(prometheus.rules_dict(rules))

    if "alertmanager" in roles:
        receivers = list(stack.receivers.all())
        token = secrets.add(webhook_token()) if any(r.kind == "panel" for r in receivers) else ""
        files[ALERTMANAGER_FILE] = dump_yaml(alertmanager.alertmanager_dict(
            stack, receivers, list(stack.routes.select_related("receiver")),
            list(stack.inhibit_rules.all()), panel_webhook_url(), token))

    if "grafana" in roles:
        files[DATASOURCES_FILE] = dump_yaml(grafana.datasources_dict(list(stack.datasources.all())))
        files[PROVIDERS_FILE] = dump_yaml(grafana.providers_dict())
        for dashboard in stack.dashboards.all():
            files[f"{DASHBOARDS_DIR}/{dashboard.slug}.json"] = dump_json(grafana.dashboard_dict(dashboard))

    es = next((svc.name for svc in services if svc.role == "elasticsearch"), "elasticsearch")
    routes = list(stack.log_routes.all())
    if "fluentd" in roles:
        files[FLUENTD_FILE] = logs.fluentd_conf(routes, es)
    if "logstash" in roles:
        files[LOGSTASH_FILE] = logs.logstash_conf(routes, f"http://{es}:9200")

    for extra in stack.files.all():
        files.setdefault(extra.path, extra.content)

    return Bundle(stack_slug=stack.slug, files=dict(sorted(files.items())), compose=doc,
                  secret_values=secrets.used, missing_secrets=secrets.missing)
