"""What a team edits: a stack, its services, networks, volumes, files and secrets."""
import base64
import binascii
import secrets as pysecrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from stacks.lib.bundle import BinaryFile
from stacks.lib.composefile import DEPENDS_CONDITIONS, host_port_range, network_name, parse_port
from stacks.lib.grafana import check_provider_settings
from stacks.lib.safe_paths import relative_file_problem, relative_path_problem
from stacks.models.engines import Engine, default_engine
from stacks.models.validators import check_str_dict, check_str_list, compose_name, duration, update_window


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
    hold_alerts = models.BooleanField(
        default=True, help_text="Before a deploy stops or recreates services, silence their alerts in the stack's "
                                "Alertmanager until they are healthy again (untick to hear the noise).")
    directory_override = models.CharField(
        max_length=500, blank=True, editable=False,
        help_text="The project's own directory, for a stack adopted in place (its mounts stay where they are); "
                  "empty: STACKS_DIR/<slug>.")
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
        check_str_list(self.alert_group_by, "Group by")
        problem = check_provider_settings(self.grafana_dashboard_provider)
        if problem:
            raise ValidationError({"grafana_dashboard_provider": problem})

    def get_absolute_url(self):
        return reverse("stack-detail", args=[self.slug])

    @property
    def directory(self):
        if self.directory_override:
            return Path(self.directory_override)
        return settings.STACKS_DIR / self.slug

    def last_deployment(self):
        return self.deployments.order_by("-id").first()

    @classmethod
    def named(cls, slug):
        """The stack with this slug; Stack.DoesNotExist says which ones there are."""
        try:
            return cls.objects.get(slug=slug)
        except cls.DoesNotExist:
            known = ", ".join(cls.objects.values_list("slug", flat=True)) or "none yet"
            raise cls.DoesNotExist(f"No stack named {slug!r} (stacks: {known}).") from None


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
    # Image updates (stacks/monitoring/updates.py): what to do when the registry has a newer image.
    UPDATE_POLICIES = [("off", "off: do not check"), ("tell", "tell: show the update"),
                       ("apply", "apply: deploy it (within the window)")]
    update_policy = models.CharField(max_length=5, choices=UPDATE_POLICIES, default="tell")
    update_tags = models.CharField(max_length=5, blank=True, default="",
                                   choices=[("", "same tag only"), ("patch", "newer patch versions"),
                                            ("minor", "newer minor versions"), ("any", "any newer version")],
                                   help_text="For a version tag (1.2.3), which newer tags count as updates.")
    update_window = models.CharField(max_length=11, blank=True, validators=[update_window],
                                     help_text='"apply" only then: HH:MM-HH:MM in the panel\'s time zone '
                                               "(may pass midnight); empty: any time.")

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
        check_str_list(self.command, "Command")
        check_str_list(self.entrypoint, "Entrypoint")
        check_str_dict(self.environment, "Environment")
        check_str_list(self.ports, "Ports")
        check_str_list(self.volumes, "Volumes")
        check_str_list(self.networks, "Networks")
        check_str_dict(self.depends_on, "Depends on")
        check_str_dict(self.logging_options, "Logging options")
        check_str_dict(self.labels, "Labels")
        check_str_list(self.extra_hosts, "Extra hosts")
        bad = [c for c in self.depends_on.values() if c not in DEPENDS_CONDITIONS]
        if bad:
            raise ValidationError({"depends_on": f"Unknown condition {bad[0]!r}; use one of {', '.join(DEPENDS_CONDITIONS)}."})
        if not isinstance(self.healthcheck, dict):
            raise ValidationError({"healthcheck": "Healthcheck must be a mapping."})
        if self.replicas < 1:
            raise ValidationError({"replicas": "At least one replica."})

    def _check_build_context(self):
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
        problem = relative_file_problem(self.path)
        if problem:
            raise ValidationError({"path": problem})
        if self.binary:
            try:
                base64.b64decode(self.content, validate=True)
            except binascii.Error:
                raise ValidationError({"content": "A binary file's content is base64."}) from None

    @classmethod
    def kept(cls, stack, path, data):
        """A stack file for `data` as imported: text, or bytes (kept base64)."""
        if isinstance(data, bytes):
            return cls(stack=stack, path=path, content=base64.b64encode(data).decode(), binary=True)
        return cls(stack=stack, path=path, content=data)

    def bundle_text(self):
        return BinaryFile(self.content) if self.binary else self.content

    def save(self, *args, **kwargs):
        # Refused here too, not only in forms: a row made by a script or an
        # import must never make the engine write outside the stack's directory.
        self.clean()
        super().save(*args, **kwargs)


class Secret(models.Model):
    """A generated value (password, token), inserted where ${secret:NAME} appears.
    Never shown on pages or written to logs. It belongs to one stack, which alone
    references it, with the stacks an admin shared it with; a secret of no stack
    (the panel's own tokens) is referenced by none unless shared."""

    name = models.CharField(max_length=63, unique=True, validators=[compose_name])
    value = models.TextField(editable=False)  # a deploy key is longer than 255
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, null=True, blank=True, related_name="secrets",
                              help_text="The stack it belongs to: the only one that may reference it, with those "
                                        "below.")
    shared_with = models.ManyToManyField(Stack, blank=True, related_name="shared_secrets",
                                         help_text="Other stacks that may reference it (an admin's choice).")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @classmethod
    def get_or_generate(cls, name, stack=None):
        """The value of secret `name`, generated on first use for `stack` (which
        owns it from then on; an unowned one is given to it)."""
        obj, _ = cls.objects.get_or_create(name=name, defaults={"value": pysecrets.token_urlsafe(24), "stack": stack})
        if stack is not None and obj.stack_id is None:
            cls.objects.filter(pk=obj.pk).update(stack=stack)
        return obj.value

    @classmethod
    def of_stack(cls, stack):
        """{name: value} of what `stack` may reference: its own and those shared with it."""
        if not stack.pk:
            return {}
        return dict(cls.objects.filter(models.Q(stack=stack) | models.Q(shared_with=stack)).distinct()
                    .values_list("name", "value"))


