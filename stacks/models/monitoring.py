"""What a stack's monitoring and logging services are told: scrape jobs, alert rules,
Alertmanager routing, Grafana provisioning and log routes."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from stacks.lib.fluentd_tags import fluentd_pattern_matches
from stacks.models.definitions import Stack
from stacks.models.validators import alert_name, check_str_dict, check_str_list, dns_sd_problem, duration, receiver_name


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
        check_str_list(self.targets, "Targets")
        check_str_dict(self.labels, "Labels")
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
        check_str_dict(self.labels, "Labels")
        check_str_dict(self.annotations, "Annotations")
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
        check_str_list(self.matchers, "Matchers")
        check_str_list(self.group_by, "Group by")
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
        check_str_list(self.source_matchers, "Source matchers")
        check_str_list(self.target_matchers, "Target matchers")
        check_str_list(self.equal, "Equal")


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
        check_str_dict(self.options, "Options")
        for key, value in self.options.items():
            if not re.match(r"^[a-z][a-z0-9_]*$", key) or key in ("host", "port", "index_name"):
                raise ValidationError({"options": f"{key!r}: a Fluentd parameter name other than host, port and "
                                                  "index_name (which the route sets)."})
            if not re.match(r"^[^\s#\"'\[{][^\n#]*$", value) or value != value.strip():
                raise ValidationError({"options": f"{key}: {value!r} is not a plain one-line value (no '#', "
                                                  "quotes or brackets)."})

    def matches(self, tag):
        return fluentd_pattern_matches(self.tag_pattern, tag)


