"""Stack definitions as rows: what a team edits, and what the panel records.

Definitions (Stack, Service, Network, Volume, StackFile, Secret, ScrapeJob,
AlertRule, Receiver, Route, InhibitRule, GrafanaDatasource, GrafanaDashboard,
LogRoute) are rendered into files by stacks.render; Deployment, Alert and
ServiceHealth record what happened.
"""
import fnmatch
import re
import secrets as pysecrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from stacks.lib.composefile import DEPENDS_CONDITIONS, host_port_range, network_name, parse_port

compose_name = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$",
    "Use lower-case letters, digits, '-' and '_' (Compose's rule for names), starting with a letter or digit.",
)
receiver_name = RegexValidator(
    r"^[A-Za-z0-9_-]+$",
    "Use letters, digits, '-' and '_' only: Alertmanager escapes other characters in the webhook it sends.",
)
label_name = RegexValidator(r"^[a-zA-Z_][a-zA-Z0-9_]*$", "Not a valid Prometheus label name.")
duration = RegexValidator(
    r"^((\d+)(ms|s|m|h|d|w|y))+$", "Use a Prometheus duration such as 30s, 5m or 1h30m."
)
alert_name = RegexValidator(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", "Alert names are metric-like: letters, digits, '_' and ':'.")


def _check_str_dict(value, what):
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError(f"{what} must be a mapping of text to text.")


def _check_str_list(value, what):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{what} must be a list of text items.")


class Engine(models.Model):
    """A Docker engine stacks run on: the local socket, a remote engine over TLS
    or SSH, or a Swarm cluster reached through one of its managers. Work for it
    goes to Celery queue `engine.NAME`, served by any worker that can reach it."""

    name = models.CharField(max_length=63, unique=True, validators=[compose_name])
    docker_host = models.CharField(max_length=255, blank=True,
                                   help_text="unix://, tcp:// or ssh:// address; empty means the worker's own "
                                             "engine (DOCKER_HOST or the local socket).")
    swarm = models.BooleanField(default=False, help_text="Deploy stacks as Swarm services (through a manager).")
    # TLS client material for tcp://; secrets: never shown on pages or in logs.
    tls_ca = models.TextField(blank=True, editable=False)
    tls_cert = models.TextField(blank=True, editable=False)
    tls_key = models.TextField(blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.docker_host and not self.docker_host.startswith(("unix://", "tcp://", "ssh://")):
            raise ValidationError({"docker_host": "Use unix:///path, tcp://host:port or ssh://user@host."})
        if any((self.tls_ca, self.tls_cert, self.tls_key)) and not all((self.tls_ca, self.tls_cert, self.tls_key)):
            raise ValidationError("TLS needs the CA, the client certificate and its key together.")

    @property
    def queue(self):
        """The Celery queue its work goes to (a prefix keeps test runs apart)."""
        return f"{settings.PANEL_ENGINE_QUEUE_PREFIX}engine.{self.name}"

    @property
    def backend(self):
        """Which engine backend deploys its stacks (stacks.engine.get_backend)."""
        return "swarm" if self.swarm else "compose"

    @property
    def uses_tls(self):
        return bool(self.tls_cert)

    @property
    def address(self):
        return self.docker_host or "local socket"

    @property
    def published_host(self):
        """Where ports its stacks publish answer: the engine's host for a remote
        engine, STACKS_HOST for the worker's own."""
        from urllib.parse import urlsplit

        if self.docker_host.startswith(("tcp://", "ssh://")):
            return urlsplit(self.docker_host).hostname or settings.STACKS_HOST
        return settings.STACKS_HOST


def default_engine():
    """Stacks belong to the local engine unless told otherwise."""
    return Engine.objects.get_or_create(name="local")[0].pk


class Stack(models.Model):
    slug = models.SlugField(unique=True, max_length=63, validators=[compose_name],
                            help_text="Also the Compose project name.")
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="stacks", default=default_engine,
                               help_text="The Docker engine (or Swarm) it runs on.")
    # Set by a move: the next deploy brings the stack down there, in the same operation.
    moved_from = models.ForeignKey(Engine, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # Root route of Alertmanager, for a stack that runs one.
    alert_group_by = models.JSONField(default=list, blank=True)
    alert_group_wait = models.CharField(max_length=20, default="10s", validators=[duration])
    alert_group_interval = models.CharField(max_length=20, default="1m", validators=[duration])
    alert_repeat_interval = models.CharField(max_length=20, default="4h", validators=[duration])
    scrape_interval = models.CharField(max_length=20, default="15s", validators=[duration])
    evaluation_interval = models.CharField(max_length=20, default="15s", validators=[duration])
    compose_extra = models.JSONField(
        default=dict, blank=True,
        help_text="Top-level Compose keys kept as written and rendered back: configs and secrets (file-based: "
                  "the engine bind-mounts them, as Compose does on one engine), x-… extension fields.")
    # Grafana's dashboard provider and Fluentd's framing, for a stack that runs them.
    grafana_dashboard_provider = models.JSONField(
        default=dict, blank=True,
        help_text="Settings of the Grafana dashboard provider over the panel's own (name, orgId, folder, folderUid, "
                  "disableDeletion, updateIntervalSeconds, allowUiUpdates), as Grafana's provisioning file "
                  'writes them: {"name": "default", "disableDeletion": false}.')
    fluentd_drop_own_events = models.BooleanField(
        default=True, help_text="fluent.conf starts with <match fluent.**> @type null: Fluentd's own log events "
                                "are dropped rather than sent on.")
    fluentd_stdout_unmatched = models.BooleanField(
        default=True, help_text="fluent.conf ends with <match **> @type stdout: logs no route matches are printed "
                                "in Fluentd's own log.")
    allow_host_access = models.BooleanField(
        default=False, help_text="Let services use host-level options (privileged, cap_add ALL, host network/pid/"
                                 "ipc, bind mounts of /, /proc, /sys or the Docker socket, devices). Only an "
                                 "admin can tick it.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("deploy_stack", "Can deploy, stop and restart stacks"),
        ]

    def __str__(self):
        return self.slug

    def clean(self):
        _check_str_list(self.alert_group_by, "Group by")
        from stacks.render.grafana import check_provider_settings

        problem = check_provider_settings(self.grafana_dashboard_provider)
        if problem:
            raise ValidationError({"grafana_dashboard_provider": problem})

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("stack-detail", args=[self.slug])

    @property
    def directory(self):
        return settings.STACKS_DIR / self.slug

    def last_deployment(self):
        return self.deployments.order_by("-id").first()

    def plan_deploy(self):
        """(bundle, problems, plan): what deploying now would do; changes nothing.
        The plan is None when validation finds errors."""
        from stacks.engine import plan_deploy
        from stacks.render import render_bundle
        from stacks.validation.checks import errors, validate_stack

        bundle = render_bundle(self)
        problems = validate_stack(self, bundle)
        if errors(problems):
            return bundle, problems, None
        roles = dict(self.services.values_list("name", "role"))
        from stacks.engine.connect import using

        with using(self.engine):
            return bundle, problems, plan_deploy(self.slug, self.directory, bundle, roles, self.engine.backend)

    @classmethod
    def named(cls, slug):
        """The stack with this slug; Stack.DoesNotExist says which ones there are."""
        try:
            return cls.objects.get(slug=slug)
        except cls.DoesNotExist:
            known = ", ".join(cls.objects.values_list("slug", flat=True)) or "none yet"
            raise cls.DoesNotExist(f"No stack named {slug!r} (stacks: {known}).") from None

    def request_operation(self, action, user=None, options=None, plan=None):
        """Record an operation and queue it once the row is committed (a deploy
        with the plan its operator confirmed, if any: Deployment.take_plan). Raises Busy
        while another one is queued or running; a running one whose worker died
        (its lock expired) is failed first, so that the next deploy can converge."""
        from django.db import transaction

        from stacks.accounts import audit
        from stacks.seams import broker
        from stacks.tasks import run_operation

        with transaction.atomic():
            Stack.objects.select_for_update().filter(pk=self.pk).first()
            active = self.deployments.filter(status__in=[Deployment.QUEUED, Deployment.RUNNING]).first()
            if active is not None:
                try:
                    held = broker.lock_held(self.slug)
                except broker.BrokerError as exc:
                    raise Busy(f"Operations cannot be queued: {exc}") from None
                if active.status == Deployment.RUNNING and not held:
                    active.fail("The worker running this operation stopped before it finished.")
                else:
                    raise Busy(f"{active.action} of {self.slug} (#{active.pk}) is {active.status}; "
                               "wait for it to finish.")
            deployment = Deployment.objects.create(stack=self, action=action, requested_by=user,
                                                   options=options or {}, plan=plan or {})
            audit.record(action, f"stack {self.slug}", user=user, detail=f"operation #{deployment.pk} {options or ''}")
            run_operation.delay_on_commit(deployment.pk)
        return deployment


class Network(models.Model):
    """A Compose network. Shared between stacks: one stack owns it, the others
    declare it `external` with the same `name`."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="networks")
    key = models.CharField(max_length=63, validators=[compose_name])
    name = models.CharField(max_length=63, blank=True, validators=[compose_name],
                            help_text="Engine name; empty means <stack>_<key>.")
    external = models.BooleanField(default=False)
    driver = models.CharField(max_length=30, blank=True)
    extra = models.JSONField(default=dict, blank=True,
                             help_text="Other Compose keys of the network, kept as written and applied "
                                       '(driver_opts, ipam, internal, attachable, enable_ipv6, labels): '
                                       '{"internal": true}.')

    class Meta:
        unique_together = [("stack", "key")]
        ordering = ["key"]

    def __str__(self):
        return f"{self.stack.slug}/{self.key}"

    @property
    def engine_name(self):
        return network_name(self.stack.slug, self.key, {"name": self.name})


class Volume(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="volumes")
    key = models.CharField(max_length=63, validators=[compose_name])
    external = models.BooleanField(default=False)
    extra = models.JSONField(default=dict, blank=True,
                             help_text="Other Compose keys of the volume, kept as written and applied "
                                       '(name, driver, driver_opts, labels): {"driver_opts": {"type": "tmpfs"}}.')

    class Meta:
        unique_together = [("stack", "key")]
        ordering = ["key"]

    def __str__(self):
        return f"{self.stack.slug}/{self.key}"


class Service(models.Model):
    RESTART_CHOICES = [(v, v) for v in ("no", "always", "on-failure", "unless-stopped")]
    ROLE_CHOICES = [(v, v) for v in (
        "prometheus", "alertmanager", "grafana", "node-exporter", "cadvisor",
        "elasticsearch", "kibana", "fluentd", "logstash", "app", "database", "cache", "other",
    )]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=63, validators=[compose_name])
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="other",
                            help_text="Which generated configs this service receives and how it is probed.")
    image = models.CharField(max_length=255, blank=True)
    build_context = models.CharField(max_length=255, blank=True, help_text="Path inside the stack's directory.")
    dockerfile = models.CharField(max_length=255, blank=True)
    command = models.JSONField(default=list, blank=True, help_text="List of arguments. ${public_url} is the URL "
                               "the panel publishes the UI port on (for --web.external-url).")
    entrypoint = models.JSONField(default=list, blank=True)
    environment = models.JSONField(default=dict, blank=True,
                                   help_text="${secret:NAME} inserts a generated secret.")
    ports = models.JSONField(default=list, blank=True,
                             help_text='Compose short syntax: "9090:9090", "127.0.0.1:3000:3000", "8080-8081:3000".')
    volumes = models.JSONField(default=list, blank=True,
                               help_text='"data:/var/lib/x", "./prometheus.yml:/etc/prometheus/prometheus.yml:ro".')
    networks = models.JSONField(default=list, blank=True, help_text="Network keys of this stack.")
    depends_on = models.JSONField(default=dict, blank=True,
                                  help_text='{"db": "service_healthy"}; conditions: service_started, '
                                            "service_healthy, service_completed_successfully.")
    healthcheck = models.JSONField(default=dict, blank=True,
                                   help_text='{"test": ["CMD", ...], "interval": "10s", "timeout": "5s", "retries": 3}')
    logging_driver = models.CharField(max_length=30, blank=True)
    logging_options = models.JSONField(default=dict, blank=True)
    replicas = models.PositiveSmallIntegerField(default=1)
    restart = models.CharField(max_length=20, choices=RESTART_CHOICES, default="unless-stopped")
    labels = models.JSONField(default=dict, blank=True)
    extra_hosts = models.JSONField(default=list, blank=True)
    user = models.CharField(max_length=64, blank=True)
    extra = models.JSONField(default=dict, blank=True,
                             help_text="Every other Compose service key, kept as written and rendered back "
                                       '(privileged, cap_add, devices, ulimits, deploy.resources…): {"privileged": true}.')
    # What the panel offers about the service, not rendered into Compose.
    ui_name = models.CharField(max_length=40, blank=True, help_text="Link title, e.g. Grafana.")
    ui_port = models.PositiveIntegerField(null=True, blank=True, help_text="Container port the link opens.")
    ui_path = models.CharField(max_length=200, blank=True, default="/")
    probe_path = models.CharField(max_length=200, blank=True, help_text="HTTP health probe, e.g. /-/healthy.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        unique_together = [("stack", "name")]
        ordering = ["order", "name"]

    def __str__(self):
        return f"{self.stack.slug}/{self.name}"

    def clean(self):
        if not isinstance(self.extra, dict):
            raise ValidationError({"extra": "Extra keys are a mapping of Compose service keys."})
        if not self.image and not self.build_context and not {"image", "build"} & set(self.extra):
            raise ValidationError("A service needs an image or a build context.")
        self._check_build_context()
        _check_str_list(self.command, "Command")
        _check_str_list(self.entrypoint, "Entrypoint")
        _check_str_dict(self.environment, "Environment")
        _check_str_list(self.ports, "Ports")
        _check_str_list(self.volumes, "Volumes")
        _check_str_list(self.networks, "Networks")
        _check_str_dict(self.depends_on, "Depends on")
        _check_str_dict(self.logging_options, "Logging options")
        _check_str_dict(self.labels, "Labels")
        _check_str_list(self.extra_hosts, "Extra hosts")
        bad = [c for c in self.depends_on.values() if c not in DEPENDS_CONDITIONS]
        if bad:
            raise ValidationError({"depends_on": f"Unknown condition {bad[0]!r}; use one of {', '.join(DEPENDS_CONDITIONS)}."})
        if not isinstance(self.healthcheck, dict):
            raise ValidationError({"healthcheck": "Healthcheck must be a mapping."})
        if self.replicas < 1:
            raise ValidationError({"replicas": "At least one replica."})

    def _check_build_context(self):
        from stacks.lib.safe_paths import relative_path_problem

        if self.build_context and relative_path_problem(self.build_context):
            raise ValidationError({"build_context": relative_path_problem(self.build_context)})

    def save(self, *args, **kwargs):
        self._check_build_context()
        super().save(*args, **kwargs)

    def published_ports(self):
        """[(host_ip, host_port_or_range, container_port, proto)] from the short syntax."""
        return [parse_port(p) for p in self.ports]

    def host_port_for(self, container_port):
        for _ip, host_port, cport, proto in self.published_ports():
            if cport == str(container_port) and host_port and proto == "tcp":
                return host_port_range(host_port)[0]
        return None

    def ui_url(self, host="localhost"):
        port = self.host_port_for(self.ui_port) if self.ui_port else None
        return f"http://{host}:{port}{self.ui_path or '/'}" if port else ""

    def probe_url(self, host="127.0.0.1"):
        port = self.host_port_for(self.ui_port) if self.ui_port and self.probe_path else None
        return f"http://{host}:{port}{self.probe_path}" if port else ""


class StackFile(models.Model):
    """An extra file of the bundle, kept verbatim (a Dockerfile, an app's source)."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=255, help_text="Relative path inside the stack's directory.")
    content = models.TextField(blank=True)
    binary = models.BooleanField(default=False, help_text="The content is the file's bytes, base64-encoded "
                                                          "(an image, an archive in a build context).")

    class Meta:
        unique_together = [("stack", "path")]
        ordering = ["path"]

    def __str__(self):
        return f"{self.stack.slug}:{self.path}"

    def clean(self):
        from stacks.lib.safe_paths import relative_path_problem

        problem = relative_path_problem(self.path)
        if problem:
            raise ValidationError({"path": problem})
        if self.binary:
            import base64
            import binascii

            try:
                base64.b64decode(self.content, validate=True)
            except binascii.Error:
                raise ValidationError({"content": "A binary file's content is base64."}) from None

    @classmethod
    def kept(cls, stack, path, data):
        """A stack file for `data` as imported: text, or bytes (kept base64)."""
        if isinstance(data, bytes):
            import base64

            return cls(stack=stack, path=path, content=base64.b64encode(data).decode(), binary=True)
        return cls(stack=stack, path=path, content=data)

    def bundle_text(self):
        from stacks.render import BinaryFile

        return BinaryFile(self.content) if self.binary else self.content

    def save(self, *args, **kwargs):
        # Refused here too, not only in forms: a row made by a script or an
        # import must never make the engine write outside the stack's directory.
        self.clean()
        super().save(*args, **kwargs)


class Secret(models.Model):
    """A generated value (password, token), inserted where ${secret:NAME} appears.
    Never shown on pages or written to logs."""

    name = models.CharField(max_length=63, unique=True, validators=[compose_name])
    value = models.CharField(max_length=255, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @classmethod
    def get_or_generate(cls, name):
        obj, _ = cls.objects.get_or_create(name=name, defaults={"value": pysecrets.token_urlsafe(24)})
        return obj.value


class ScrapeJob(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="scrape_jobs",
                              help_text="The stack whose Prometheus scrapes this job.")
    job_name = models.CharField(max_length=100, validators=[RegexValidator(r"^[A-Za-z0-9_.:-]+$", "Letters, digits, '_', '-', '.', ':'.")])
    targets = models.JSONField(default=list, blank=True, help_text='["host:port", ...]')
    dns_sd_configs = models.JSONField(
        default=list, blank=True,
        help_text='DNS service discovery as Prometheus takes it: [{"names": ["web"], "type": "A", "port": 3000}] '
                  "(type A, AAAA or SRV; a port for A and AAAA; refresh_interval).")
    metrics_path = models.CharField(max_length=200, default="/metrics")
    scheme = models.CharField(max_length=5, default="http", choices=[("http", "http"), ("https", "https")])
    scrape_interval = models.CharField(max_length=20, blank=True, validators=[duration])
    labels = models.JSONField(default=dict, blank=True)
    panel_token = models.BooleanField(default=False, help_text="Send this panel's bearer token (for scraping the "
                                                               "panel's own /metrics).")

    class Meta:
        unique_together = [("stack", "job_name")]
        ordering = ["job_name"]

    def __str__(self):
        return self.job_name

    def clean(self):
        _check_str_list(self.targets, "Targets")
        _check_str_dict(self.labels, "Labels")
        for t in self.targets:
            if not re.match(r"^[A-Za-z0-9_.-]+:\d{1,5}$", t):
                raise ValidationError({"targets": f"{t!r} is not host:port."})
        problem = dns_sd_problem(self.dns_sd_configs)
        if problem:
            raise ValidationError({"dns_sd_configs": problem})
        if not self.targets and not self.dns_sd_configs:
            raise ValidationError({"targets": "A job scrapes targets, DNS-discovered ones or both: give one."})
        if not self.metrics_path.startswith("/"):
            raise ValidationError({"metrics_path": "The path starts with '/'."})


DNS_SD_KEYS = {"names", "type", "port", "refresh_interval"}


def dns_sd_problem(configs):
    """What is wrong with a job's dns_sd_configs as the rows keep them, or ''."""
    if not isinstance(configs, list):
        return "A list of DNS discovery entries."
    for i, cfg in enumerate(configs):
        where = f"entry {i + 1}"
        if not isinstance(cfg, dict) or set(cfg) - DNS_SD_KEYS:
            return f"{where}: a mapping of {', '.join(sorted(DNS_SD_KEYS))}."
        names = cfg.get("names")
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) and re.match(r"^[A-Za-z0-9_.-]+$", n) for n in names):
            return f"{where}: names is a list of DNS names."
        kind = cfg.get("type", "SRV")
        if kind not in ("A", "AAAA", "SRV"):
            return f"{where}: type is A, AAAA or SRV."
        port = cfg.get("port")
        if kind != "SRV" and not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            return f"{where}: a type {kind} lookup needs the port to scrape (1-65535)."
        if kind == "SRV" and port is not None:
            return f"{where}: an SRV record names its own port; leave port out."
        if "refresh_interval" in cfg and not (isinstance(cfg["refresh_interval"], str) and re.match(
                r"^((\d+)(ms|s|m|h|d|w|y))+$", cfg["refresh_interval"])):
            return f"{where}: refresh_interval is a duration such as 30s."
    return ""


class AlertRule(models.Model):
    SEVERITIES = [(v, v) for v in ("critical", "warning", "info")]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="alert_rules")
    group = models.CharField(max_length=100, default="default")
    name = models.CharField(max_length=100, validators=[alert_name])
    expr = models.TextField(help_text="PromQL expression.")
    for_duration = models.CharField("for", max_length=20, blank=True, validators=[duration])
    severity = models.CharField(max_length=20, choices=SEVERITIES, default="warning")
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True,
                                   help_text="summary, description; Go templates such as {{ $labels.instance }} are kept.")
    enabled = models.BooleanField(default=True)
    tests = models.JSONField(
        default=list, blank=True,
        help_text='Test cases as `promtool test rules` takes them: [{"interval": "1m", "input_series": '
                  '[{"series": "up{job=\\"x\\"}", "values": "0x10"}], "alert_rule_test": [{"eval_time": "5m", '
                  '"alertname": "...", "exp_alerts": [{"exp_labels": {...}}]}]}]. Run on save and before each deploy.')

    class Meta:
        unique_together = [("stack", "group", "name")]
        ordering = ["group", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        _check_str_dict(self.labels, "Labels")
        _check_str_dict(self.annotations, "Annotations")
        for key in self.labels:
            if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", key):
                raise ValidationError({"labels": f"{key!r} is not a valid label name."})
        if self.tests is None:  # an emptied admin field
            self.tests = []
        if not isinstance(self.tests, list) or not all(
                isinstance(t, dict) and isinstance(t.get("input_series"), list) for t in self.tests):
            raise ValidationError({"tests": "Test cases are a list of objects, each with its input_series "
                                            "(and alert_rule_test), as `promtool test rules` takes them."})
        # Full checks (promtool) run in stacks.validation.checks, from the admin form.


class Receiver(models.Model):
    KINDS = [("panel", "this panel's webhook"), ("webhook", "webhook"), ("email", "email"), ("slack", "Slack")]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="receivers")
    name = models.CharField(max_length=100, validators=[receiver_name])
    kind = models.CharField(max_length=10, choices=KINDS, default="panel")
    url = models.URLField(blank=True, help_text="Webhook or Slack incoming-webhook URL.")
    email_to = models.EmailField(blank=True)
    email_from = models.EmailField(blank=True)
    smarthost = models.CharField(max_length=200, blank=True, help_text="host:port of the SMTP server.")
    slack_channel = models.CharField(max_length=100, blank=True)
    send_resolved = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False, help_text="The root route's receiver.")

    class Meta:
        unique_together = [("stack", "name")]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        needs = {"webhook": ("url",), "slack": ("url",), "email": ("email_to", "email_from", "smarthost")}
        missing = [f for f in needs.get(self.kind, ()) if not getattr(self, f)]
        if missing:
            raise ValidationError({f: f"Required for a {self.kind} receiver." for f in missing})


class Route(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="routes")
    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE)
    matchers = models.JSONField(default=list, help_text='["severity=\\"critical\\""]')
    group_by = models.JSONField(default=list, blank=True)
    continue_matching = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return f"{', '.join(self.matchers) or '*'} → {self.receiver}"

    def clean(self):
        _check_str_list(self.matchers, "Matchers")
        _check_str_list(self.group_by, "Group by")
        if self.receiver_id and self.stack_id and self.receiver.stack_id != self.stack_id:
            raise ValidationError({"receiver": "The receiver belongs to another stack."})


class InhibitRule(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="inhibit_rules")
    source_matchers = models.JSONField(default=list)
    target_matchers = models.JSONField(default=list)
    equal = models.JSONField(default=list, blank=True, help_text="Labels both alerts carry.")

    def __str__(self):
        return f"{self.source_matchers} inhibits {self.target_matchers}"

    def clean(self):
        _check_str_list(self.source_matchers, "Source matchers")
        _check_str_list(self.target_matchers, "Target matchers")
        _check_str_list(self.equal, "Equal")


class GrafanaDatasource(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="datasources")
    name = models.CharField(max_length=100)
    uid = models.SlugField(max_length=40, blank=True,
                           help_text="Empty: Grafana makes one up (dashboards then refer to it by name).")
    type = models.CharField(max_length=40, default="prometheus")
    url = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    editable = models.BooleanField(default=False, help_text="Let users change it in Grafana's UI.")
    json_data = models.JSONField(default=dict, blank=True,
                                 help_text='Grafana\'s jsonData for this type: {"timeInterval": "15s"}.')

    class Meta:
        unique_together = [("stack", "name")]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if not isinstance(self.json_data, dict):
            raise ValidationError({"json_data": "jsonData is a mapping."})


class GrafanaDashboard(models.Model):
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="dashboards")
    slug = models.SlugField(max_length=63)
    title = models.CharField(max_length=200)
    model = models.JSONField(default=dict, help_text="The dashboard JSON model (panels, time, refresh...).")

    class Meta:
        unique_together = [("stack", "slug")]
        ordering = ["slug"]

    def __str__(self):
        return self.title

    def clean(self):
        if not isinstance(self.model, dict):
            raise ValidationError({"model": "A dashboard is a JSON object."})
        if "dashboard" in self.model and "panels" not in self.model:
            raise ValidationError({"model": "Paste the dashboard model itself, not the API wrapper "
                                            "{\"dashboard\": …}: Grafana's file provisioning reads it unwrapped."})


class LogRoute(models.Model):
    """Where logs with a logging-driver tag go: a Fluentd <match> and a Logstash branch."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="log_routes")
    tag_pattern = models.CharField(max_length=200, help_text="Fluentd pattern: app.**, db.*")
    index = models.CharField(max_length=100, validators=[RegexValidator(
        r"^[a-z0-9][a-z0-9_.-]*$", "Elasticsearch index names are lower case, without spaces.")])
    flush_interval = models.CharField(max_length=20, default="5s", blank=True, validators=[RegexValidator(
        r"^\d+(\.\d+)?[smhd]?$", "A Fluentd time such as 5s, 1m or 0.5.")],
                                      help_text="The <buffer>'s flush_interval; empty: no <buffer> section.")
    options = models.JSONField(default=dict, blank=True,
                               help_text='More parameters of the Elasticsearch <match>, as Fluentd reads them: '
                                         '{"type_name": "_doc", "logstash_format": "true"}.')
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return f"{self.tag_pattern} → {self.index}"

    def clean(self):
        if not re.match(r"^[A-Za-z0-9_.*{},-]+$", self.tag_pattern):
            raise ValidationError({"tag_pattern": "Use tag parts, '.', '*' and '**' (like app.** or db.*)."})
        _check_str_dict(self.options, "Options")
        for key, value in self.options.items():
            if not re.match(r"^[a-z][a-z0-9_]*$", key) or key in ("host", "port", "index_name"):
                raise ValidationError({"options": f"{key!r}: a Fluentd parameter name other than host, port and "
                                                  "index_name (which the route sets)."})
            if not re.match(r"^[^\s#\"'\[{][^\n#]*$", value) or value != value.strip():
                raise ValidationError({"options": f"{key}: {value!r} is not a plain one-line value (no '#', "
                                                  "quotes or brackets)."})

    def matches(self, tag):
        return fluentd_pattern_matches(self.tag_pattern, tag)


def fluentd_pattern_matches(pattern, tag):
    """Fluentd's <match> semantics: '*' is one tag part, '**' zero or more parts,
    {a,b} alternatives, several patterns separated by spaces."""
    def expand(p):
        m = re.search(r"\{([^{}]*)\}", p)
        if not m:
            return [p]
        return [x for alt in m.group(1).split(",") for x in expand(p[:m.start()] + alt + p[m.end():])]

    def match(pp, tp):
        if not pp:
            return not tp
        if pp[0] == "**":
            return any(match(pp[1:], tp[i:]) for i in range(len(tp) + 1))
        return bool(tp) and fnmatch.fnmatchcase(tp[0], pp[0]) and match(pp[1:], tp[1:])

    parts = tag.split(".")
    return any(match(p.split("."), parts) for alt in pattern.split() for p in expand(alt))


# --- What happened -----------------------------------------------------------

class Busy(ValueError):
    """Another operation of the stack is under way (or cannot be checked)."""


class PlanChanged(ValueError):
    """The plan a deploy would apply is not the one its operator confirmed."""


class Deployment(models.Model):
    ACTIONS = [(v, v) for v in ("deploy", "stop", "down", "restart")]
    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [(v, v) for v in (QUEUED, RUNNING, SUCCEEDED, FAILED)]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="deployments")
    action = models.CharField(max_length=10, choices=ACTIONS, default="deploy")
    options = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    bundle_hash = models.CharField(max_length=64, blank=True)
    files = models.JSONField(default=dict, blank=True, help_text="The rendered bundle, secrets masked.")
    # The plan it applied (engine.plan.recorded); until a worker takes it, the one confirmed.
    plan = models.JSONField(default=dict, blank=True, help_text="The plan it applied (engine/plan.py as_dict).")
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.action} {self.stack.slug} #{self.pk}"

    @property
    def finished_ok(self):
        return self.status == self.SUCCEEDED

    @property
    def is_done(self):
        return self.status in (self.SUCCEEDED, self.FAILED)

    @property
    def events_stream(self):
        """Its Redis stream of steps and statuses (broker.events); named by its
        creation time too, as numbers start over with a new database."""
        return f"panel:operation:{self.pk}:{self.created.timestamp():.6f}"

    def log(self, message, kind="info"):
        from stacks.seams import broker

        step = DeploymentStep.objects.create(deployment=self, message=message[:2000], kind=kind)
        broker.notify(self.pk, self.events_stream, at=f"{step.at:%H:%M:%S}", message=step.message, kind=kind)
        return step

    def wait(self, timeout, on_step=None, until_claimed=False):
        """Until it is done (or, until_claimed, taken by a worker) or `timeout`
        seconds pass, woken by its notices (no timer); on_step(step) for each step
        recorded meanwhile. True when done."""
        import time

        from stacks.seams import broker

        deadline, seen = time.monotonic() + timeout, 0
        with broker.Notices(self.pk) as notices:
            while True:
                # Status first, then steps: an operation logs its last step before it ends.
                self.refresh_from_db(fields=["status", "error", "started", "finished"])
                if on_step:
                    for step in self.steps.filter(id__gt=seen):
                        seen = step.id
                        on_step(step)
                left = deadline - time.monotonic()
                if self.is_done or left <= 0 or (until_claimed and self.status != self.QUEUED):
                    return self.is_done
                notices.wait(left)

    def claim(self):
        """queued → running, once: whoever flips it carries the operation out."""
        now = timezone.now()
        if Deployment.objects.filter(pk=self.pk, status=self.QUEUED).update(status=self.RUNNING, started=now) != 1:
            return False
        self.status, self.started = self.RUNNING, now
        from stacks.seams import broker

        broker.notify(self.pk, self.events_stream, status=self.RUNNING)
        return True

    def finish(self):
        self.log(f"{self.action.capitalize()} finished")
        self._end(self.SUCCEEDED)

    def fail(self, error):
        """Record why it failed, in plain words (an exception or a sentence)."""
        self.error = str(error)
        self.log(self.error, "error")
        self._end(self.FAILED)

    def _end(self, status):
        from stacks.seams import broker

        self.status, self.finished = status, timezone.now()
        self.save(update_fields=["status", "error", "finished", "started"])
        broker.notify(self.pk, self.events_stream, status=status, error=self.error)

    def take_plan(self, plan):
        """Record the plan (engine.plan.recorded) about to be applied. A deploy
        confirmed on a plan (options["plan"], its id) applies that plan or none:
        when the state changed since (a row edited, a container died), it raises
        PlanChanged and keeps the new plan, for the operator to review."""
        from stacks.engine.plan import changed_lines

        confirmed, lines = self.options.get("plan"), self.plan.get("lines") or []
        self.plan = plan
        self.save(update_fields=["plan"])
        if confirmed and plan["id"] != confirmed:
            what = changed_lines(lines, plan["lines"]) if lines else ""
            raise PlanChanged("The plan changed since you confirmed it" + (f" ({what})" if what else "")
                              + ". Nothing was changed: review the new plan and deploy again.")

    @property
    def plan_changed(self):
        """Refused because the plan changed since it was confirmed (take_plan)."""
        confirmed = self.options.get("plan")
        return bool(confirmed and self.plan.get("id") and self.plan["id"] != confirmed)

    def previous(self):
        return (Deployment.objects.filter(stack=self.stack, action="deploy", id__lt=self.id)
                .exclude(files={}).order_by("-id").first())


class DeploymentStep(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, default="info")  # info, progress, error
    message = models.TextField()

    class Meta:
        ordering = ["id"]


class ServiceHealth(models.Model):
    """Last known state of one service, written by the health poller."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=20, default="unknown")  # running, exited, missing, ...
    docker_health = models.CharField(max_length=20, blank=True)
    probe_ok = models.BooleanField(null=True)
    probe_detail = models.CharField(max_length=300, blank=True)
    running = models.PositiveSmallIntegerField(default=0)
    # Where it runs, as the engine said at the last poll: one entry per container
    # (Compose) or current task (Swarm) — {name, number, state, health, node,
    # desired, error}. A snapshot read with the row, never queried by its parts.
    replicas = models.JSONField(default=list, blank=True)
    checked = models.DateTimeField(default=timezone.now)
    changed = models.DateTimeField(default=timezone.now)

    @property
    def healthy(self):
        return self.state == "running" and self.docker_health in ("", "healthy") and self.probe_ok is not False


class HealthChange(models.Model):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="health_changes")
    at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=200)

    class Meta:
        ordering = ["-id"]


class Alert(models.Model):
    """One occurrence of an alert: (fingerprint, startsAt)."""

    fingerprint = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    # status, severity and stack are indexed together with starts_at (Meta.indexes).
    status = models.CharField(max_length=10)  # firing | resolved
    name = models.CharField(max_length=200)
    severity = models.CharField(max_length=40, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    generator_url = models.TextField(blank=True)
    # Lower-cased name, summary, instance and job: what the alerts page searches,
    # without extracting JSON from every row.
    search_text = models.TextField(blank=True, editable=False)
    # Links, not constraints: the webhook writes only ids that exist when it
    # stores the alert (checked in its statement; a constraint's trigger per row
    # was a fifth of what storing an alert cost), and
    # deleting a stack or service through Django clears them; an id left behind
    # by a deletion racing a delivery reads as no stack (select_related's outer
    # join). Indexed by alert_stack_recent and the service index.
    stack = models.ForeignKey(Stack, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                              db_index=False, db_constraint=False)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                                db_constraint=False)
    first_received = models.DateTimeField(default=timezone.now)
    # The last delivery that wrote it; an unchanged repeat soon after is recorded
    # on its delivery only (stacks.alerting.ingest.SEEN_PRECISION).
    last_received = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        db_index=False)  # Meta.indexes: only acknowledged alerts
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # An acknowledgement silences the alert in Alertmanager until it resolves:
    # the panel expires that silence itself (stacks.alerting.acks).
    # db_default: the webhook inserts with raw SQL (stacks.alerting.ingest).
    ack_comment = models.CharField(max_length=500, blank=True, db_default="")
    silence_id = models.CharField(max_length=64, blank=True, db_default="")
    silence_ends_at = models.DateTimeField(null=True, blank=True)
    silence_expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_occurrence")]
        # Every filter of the alerts page reads an index in starts_at order or one
        # that holds only the firing alerts, so a page costs the same with 1,000
        # or 1,000,000 rows stored: resolved ones read alert_recent and pass over
        # the firing ones. On PostgreSQL a generated tsvector column with a GIN
        # index serves search (migration 0005; stacks.alerting.search). Each
        # index is also work for every alert the webhook stores: no more of them.
        indexes = [models.Index(fields=["-starts_at", "-id"], name="alert_recent"),
                   models.Index(fields=["stack", "-starts_at"], name="alert_stack_recent"),
                   models.Index(fields=["severity", "-starts_at"], name="alert_severity_recent"),
                   models.Index(fields=["stack", "-starts_at"], condition=models.Q(status="firing"),
                                name="alert_firing"),
                   models.Index(fields=["acknowledged_by"], condition=models.Q(acknowledged_by__isnull=False),
                                name="alert_acknowledged_by")]
        ordering = ["-starts_at", "-id"]
        permissions = [("silence_alert", "Can silence and acknowledge alerts")]

    def __str__(self):
        return f"{self.name} ({self.status})"

    @property
    def summary(self):
        return self.annotations.get("summary") or self.annotations.get("description") or ""

    @staticmethod
    def make_search_text(labels, annotations):
        parts = [labels.get("alertname", ""), annotations.get("summary", ""), labels.get("instance", ""),
                 labels.get("job", "")]
        return "\n".join(filter(None, parts)).lower()

    def acknowledge(self, user, comment=""):
        """Record who is on it and silence the alert in Alertmanager until it
        resolves (stacks.alerting.acks). Returns the silence id, if one was made."""
        from stacks.alerting.acks import acknowledge

        return acknowledge(self, user, comment)

    @property
    def source_link(self):
        """generatorURL, when a browser can open it (http or https)."""
        url = self.generator_url
        return url if url.lower().startswith(("http://", "https://")) else ""

    def save(self, *args, **kwargs):
        self.search_text = self.make_search_text(self.labels, self.annotations)
        super().save(*args, **kwargs)

    @property
    def deliveries(self):
        return AlertDelivery.objects.of_alert(self.pk)


class AlertDeliveryQuerySet(models.QuerySet):
    def of_alert(self, alert_id):
        """The deliveries that carried this alert. PostgreSQL: `alert_ids @> [id]`
        on a GIN index (migration 0012); SQLite: a scan of the JSON arrays."""
        if connections[self.db].vendor == "postgresql":
            return self.filter(alert_ids__contains=[alert_id])
        return self.filter(RawSQL(f"EXISTS (SELECT 1 FROM json_each({self.model._meta.db_table}.alert_ids) "
                                  "WHERE value = %s)", [alert_id], output_field=models.BooleanField()))


class AlertDelivery(models.Model):
    """One webhook message from Alertmanager, kept for history.

    The alerts it carried are one array of ids in the delivery's own row, not a
    row per alert: a delivery of 100 alerts writes one row."""

    receiver = models.CharField(max_length=200)
    group_key = models.TextField()
    status = models.CharField(max_length=10)
    received_at = models.DateTimeField(default=timezone.now)
    alert_count = models.PositiveIntegerField(default=0)
    truncated = models.PositiveIntegerField(default=0)
    alert_ids = models.JSONField(default=list, blank=True, editable=False)

    objects = AlertDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["received_at"], name="delivery_received")]  # retention

    @property
    def alerts(self):
        """Those of its alerts that are still kept."""
        return Alert.objects.filter(id__in=self.alert_ids)


# --- What other stacks' validation needs from a stack ---------------------------

class StackFootprint(models.Model):
    """The host ports a stack publishes and the networks its services join, derived
    from its Compose document once per change (stacks.validation.footprint), so validating
    one stack never renders the others. Deleted by database triggers when the
    stack's services, networks or slug change; derived again when next needed."""

    stack = models.OneToOneField(Stack, on_delete=models.CASCADE, related_name="footprint")
    source_hash = models.CharField(max_length=64)


class HostPortClaim(models.Model):
    footprint = models.ForeignKey(StackFootprint, on_delete=models.CASCADE, related_name="ports")
    service = models.CharField(max_length=63)
    ip = models.CharField(max_length=45)
    proto = models.CharField(max_length=5)
    port = models.PositiveIntegerField(db_index=True)


class NetworkMember(models.Model):
    footprint = models.ForeignKey(StackFootprint, on_delete=models.CASCADE, related_name="members")
    service = models.CharField(max_length=63, db_index=True)
    network = models.CharField(max_length=127, db_index=True, help_text="The engine's network name.")


class ResourceSample(models.Model):
    """CPU and memory of one service at one health poll, summed over its running
    containers: cumulative CPU time (the rate is taken between samples when read)
    and memory in use. Kept for settings.RESOURCE_SAMPLE_HOURS."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="resource_samples")
    at = models.DateTimeField(db_index=True)
    cpu_ns = models.BigIntegerField()
    mem_bytes = models.BigIntegerField()
    containers = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["service", "at"], name="resource_service_at")]


class AuditRecord(models.Model):
    """Who did what, when, from where: edits in the admin, silences,
    acknowledgements, token rotations, logins and failed logins. Operations
    (deploy, stop, …) are recorded as Deployments and noted here too."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    detail = models.TextField(blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.target}"
