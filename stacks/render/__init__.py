"""Rendering: a stack's rows in, its bundle out ({path: text} and a content hash).

Pure and deterministic: the same rows give the same bytes. Every YAML and JSON
file is dumped from data structures; no text is pasted into templates."""
import posixpath
import re

from django.conf import settings

from stacks.accounts.tokens import TOKENS, metrics_token, webhook_token
from stacks.lib.bundle import MASK, BinaryFile, Bundle  # noqa: F401 (a bundle is what rendering gives)
from stacks.lib.composefile import parse_volume, project_source
from stacks.lib.yamlio import dump_json, dump_yaml
from stacks.models import Network, Secret, Service, Stack
from stacks.render import alertmanager, compose, grafana, logs, prometheus, targets

COMPOSE_FILE = "docker-compose.yml"
PROMETHEUS_FILE = "prometheus/prometheus.yml"
RULES_FILE = "prometheus/rules/alerts.yml"
HEARTBEAT_FILE = "prometheus/rules/panel-heartbeat.yml"
ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
DATASOURCES_FILE = "grafana/provisioning/datasources/datasources.yml"
PROVIDERS_FILE = "grafana/provisioning/dashboards/dashboards.yml"
DASHBOARDS_DIR = "grafana/dashboards"
FLUENTD_FILE = "fluentd/conf/fluent.conf"
LOGSTASH_FILE = "logstash/pipeline/logstash.conf"

# What each generated file takes over in the stack's directory: the panel writes
# it only when a service mounts it and the team keeps no file of its own there
# (an imported config the rows cannot hold exactly stays a stack file).
OWNED_AREA = {
    PROMETHEUS_FILE: PROMETHEUS_FILE, RULES_FILE: "prometheus/rules/", ALERTMANAGER_FILE: ALERTMANAGER_FILE,
    DATASOURCES_FILE: "grafana/provisioning/datasources/", PROVIDERS_FILE: "grafana/provisioning/dashboards/",
    DASHBOARDS_DIR: DASHBOARDS_DIR + "/", FLUENTD_FILE: "fluentd/conf/", LOGSTASH_FILE: "logstash/pipeline/",
}

SECRET_REF = re.compile(r"\$\{secret:([a-z0-9][a-z0-9_-]*)\}")


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


def panel_webhook_url():
    return settings.PANEL_URL_FOR_STACKS.rstrip("/") + "/webhooks/alertmanager/"


def _target_resolver(stack, services, networks):
    others = {s.pk: (s, [], []) for s in Stack.objects.exclude(pk=stack.pk).order_by("slug")}
    for svc in Service.objects.filter(stack_id__in=others).order_by("name"):
        others[svc.stack_id][1].append(svc)
    for net in Network.objects.filter(stack_id__in=others).select_related("stack").order_by("key"):
        others[net.stack_id][2].append(net)
    prom = next(svc for svc in services if svc.role == "prometheus")
    return targets.Resolver(stack, services, networks, prom, others.values())


# The generated file a role reads, and the flag that may point it elsewhere.
CONFIG_FLAGS = {"prometheus": (PROMETHEUS_FILE, "--config.file"), "alertmanager": (ALERTMANAGER_FILE, "--config.file")}


class Mounted:
    """What the stack's services bind-mount from its directory (`sources`, paths
    inside it) and the generated files no service would read (`unread`): a
    Prometheus or Alertmanager told by --config.file to read another file of the
    directory it mounts (dockprom's Alertmanager reads config.yml)."""

    def __init__(self, services):
        self.sources, self.unread = set(), set()
        for svc in services:
            binds = []
            for vol in svc.volumes:
                source, target, _mode = parse_volume(vol)
                source = project_source(source)
                if source is not None:
                    self.sources.add(source)
                    binds.append((source, target.rstrip("/")))
            if svc.role in CONFIG_FLAGS:
                path, flag = CONFIG_FLAGS[svc.role]
                reads = _flag_value(svc.command, flag)
                at = [target + path[len(src):] if src else f"{target}/{path}" for src, target in binds
                      if src == "" or path == src or path.startswith(src + "/")]
                if reads and reads.startswith("/") and at and posixpath.normpath(reads) not in at:
                    self.unread.add(path)


def _flag_value(command, flag):
    args = command if isinstance(command, list) else str(command or "").split()
    for i, arg in enumerate(args):
        arg = str(arg)
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
        if arg == flag and i + 1 < len(args):
            return str(args[i + 1])
    return None


def takes_over(path, mounted, kept):
    """Whether the panel writes generated file `path`: mounted by a service that
    reads it, and no stack file of the team's own in its area."""
    if path in mounted.unread:
        return False
    if not any(src == "" or path == src or path.startswith(src + "/") for src in mounted.sources):
        return False
    area = OWNED_AREA.get(path, path)
    return not any(k == area or (area.endswith("/") and k.startswith(area)) for k in kept)


def elasticsearch_host(services):
    """Where Fluentd and Logstash send logs: the stack's Elasticsearch service."""
    return next((svc.name for svc in services if svc.role == "elasticsearch"), "elasticsearch")


PANEL_SECRETS = frozenset(row for _env, row in TOKENS.values())


def stack_secrets(stack):
    """What ${secret:NAME} may name in `stack`: its own secrets and those an admin
    shared with it; never the panel's own tokens."""
    return {name: value for name, value in Secret.of_stack(stack).items() if name not in PANEL_SECRETS}


def secret_mask(stack):
    """A function that hides, in text the engine gave back (log lines, health-check
    output, errors), every secret value `stack` may carry and the panel's tokens
    rendered into its files: masked whether or not this version uses them."""
    values = [*stack_secrets(stack).values(), webhook_token(), metrics_token()]
    return Bundle(stack_slug=stack.slug, files={}, compose={}, secret_values=set(values)).mask


def render_bundle(stack):
    services = list(stack.services.all())
    networks = list(stack.networks.all())
    volumes = list(stack.volumes.all())
    roles = {svc.role for svc in services}
    secrets = Secrets(stack_secrets(stack))
    files = {}
    kept = {f.path: f.bundle_text() for f in stack.files.all()}
    mounted = Mounted(services)

    def ours(path):
        return takes_over(path, mounted, kept)

    doc = compose.compose_dict(stack, services, networks, volumes, secrets, settings.STACKS_PUBLIC_HOST)
    files[COMPOSE_FILE] = dump_yaml(doc)

    receivers = list(stack.receivers.all())
    panel = next((r.name for r in receivers if r.kind == "panel"), None)
    # The dead man's switch: Prometheus and Alertmanager both ours, and the panel one of its receivers.
    heartbeat = bool({"prometheus", "alertmanager"} <= roles and panel and ours(RULES_FILE)
                     and ours(PROMETHEUS_FILE) and ours(ALERTMANAGER_FILE))
    if "prometheus" in roles:
        rules = [r for r in stack.alert_rules.all() if r.enabled] if ours(RULES_FILE) else []
        kept_rules = any(p.startswith(OWNED_AREA[RULES_FILE]) for p in kept)
        am_targets = [f"{svc.name}:{svc.ui_port or 9093}" for svc in services if svc.role == "alertmanager"]
        jobs = list(stack.scrape_jobs.all())
        token = secrets.add(metrics_token()) if any(j.panel_token for j in jobs) else ""
        if ours(PROMETHEUS_FILE):
            files[PROMETHEUS_FILE] = dump_yaml(prometheus.prometheus_dict(
                stack, jobs, am_targets, bool(rules) or kept_rules or heartbeat, token,
                resolve=_target_resolver(stack, services, networks)))
        if rules:
            files[RULES_FILE] = dump_yaml(prometheus.rules_dict(rules))
        if heartbeat:
            files[HEARTBEAT_FILE] = dump_yaml(prometheus.heartbeat_rules(stack.slug))

    if "alertmanager" in roles and ours(ALERTMANAGER_FILE):
        token = secrets.add(webhook_token()) if panel else ""
        am_doc = alertmanager.alertmanager_dict(stack, receivers, list(stack.routes.select_related("receiver")),
                                                list(stack.inhibit_rules.all()), panel_webhook_url(), token)
        if heartbeat:
            am_doc = alertmanager.with_heartbeat(am_doc, panel, settings.PANEL_HEARTBEAT_GROUP_INTERVAL,
                                                 settings.PANEL_HEARTBEAT_REPEAT)
        files[ALERTMANAGER_FILE] = dump_yaml(am_doc)

    if "grafana" in roles:
        if ours(DATASOURCES_FILE):
            files[DATASOURCES_FILE] = dump_yaml(grafana.datasources_dict(list(stack.datasources.all())))
        if ours(PROVIDERS_FILE):
            files[PROVIDERS_FILE] = dump_yaml(grafana.providers_dict(stack.grafana_dashboard_provider))
        if ours(DASHBOARDS_DIR + "/"):
            for dashboard in stack.dashboards.all():
                files[f"{DASHBOARDS_DIR}/{dashboard.slug}.json"] = dump_json(grafana.dashboard_dict(dashboard))

    es = elasticsearch_host(services)
    routes = list(stack.log_routes.all())
    if "fluentd" in roles and ours(FLUENTD_FILE):
        files[FLUENTD_FILE] = logs.fluentd_conf(routes, es, drop_own_events=stack.fluentd_drop_own_events,
                                                 stdout_unmatched=stack.fluentd_stdout_unmatched)
    if "logstash" in roles and ours(LOGSTASH_FILE):
        files[LOGSTASH_FILE] = logs.logstash_conf(routes, f"http://{es}:9200")

    for path, content in kept.items():
        files.setdefault(path, content)

    return Bundle(stack_slug=stack.slug, files=dict(sorted(files.items())), compose=doc,
                  secret_values=secrets.used, missing_secrets=secrets.missing)
