"""An imported project's config files → rows, where the rows hold them exactly.

Each recognised file (prometheus.yml, the rule file, alertmanager.yml, Grafana's
datasources, dashboard provider and dashboards, fluent.conf) is read, turned into
unsaved rows, rendered back by stacks.render, and compared with the original,
both parsed (defaults filled in on both sides). Only when they mean the same does
the file become rows the admin edits; otherwise it stays a stack file, kept and
written back byte for byte."""
from stacks.adoption.config_import.alertmanager import alertmanager_rows
from stacks.adoption.config_import.common import NotExact, parse_yaml, valid
from stacks.adoption.config_import.fluentd import log_routes
from stacks.adoption.config_import.grafana import dashboard_rows, datasource_rows, provider_settings
from stacks.adoption.config_import.panel_own import without_heartbeat_file
from stacks.adoption.config_import.prometheus import _norm_prometheus, prometheus_rows, rule_rows
from stacks.render import (
    ALERTMANAGER_FILE,
    DASHBOARDS_DIR,
    DATASOURCES_FILE,
    FLUENTD_FILE,
    OWNED_AREA,
    PROMETHEUS_FILE,
    PROVIDERS_FILE,
    RULES_FILE,
    Mounted,
    elasticsearch_host,
    takes_over,
)

__all__ = ["NotExact", "adopt_configs", "_norm_prometheus"]

RULES_DIR = OWNED_AREA[RULES_FILE]


class _Files:
    """The project's files still kept verbatim, and whether the panel would write
    a generated file once a set of them became rows."""

    def __init__(self, files, services):
        self.files, self.mounted = dict(files), Mounted(services)

    def area(self, prefix):
        return {p: t for p, t in self.files.items() if p == prefix or p.startswith(prefix)}

    def panel_writes(self, path, taken):
        return takes_over(path, self.mounted, set(self.files) - set(taken))

    def take(self, paths):
        for p in paths:
            del self.files[p]


def _convert(kept, rendered_path, area, convert, save):
    """Rows from the files of `area`, when the panel would write `rendered_path`
    in their place: convert(files) → rows (NotExact keeps them), save(rows)."""
    files = kept.area(area)
    if not files or not kept.panel_writes(rendered_path, files):
        return False
    try:
        rows = convert(files)
    except NotExact:
        return False
    save(rows)
    kept.take(files)
    return True


def _saving(stack, *fields):
    def save(result):
        rows, values = result
        for name, value in zip(fields, values):
            setattr(stack, name, value)
        if fields:
            stack.save(update_fields=list(fields))
        for row in rows:
            row.save()  # one by one: a route takes its receiver's id, saved just before it
    return save


def adopt_configs(stack, files):
    """Turn the recognised files of {path: text} into rows of `stack` (saved);
    returns {path: text} of the files kept verbatim. Call inside a transaction."""
    services = list(stack.services.all())
    roles = {s.role for s in services}
    kept = _Files(without_heartbeat_file(files), services)
    binary = {p: d for p, d in files.items() if isinstance(d, bytes)}  # no config the panel reads
    kept.take(binary)

    def checked(rows, *values):
        valid(rows)
        stack.full_clean(exclude=["engine", "moved_from", "slug"])
        return rows, values

    if "prometheus" in roles:
        rule_paths = list(kept.area(RULES_DIR))
        rules_as_rows = rule_paths == [RULES_FILE] and _convert(
            kept, RULES_FILE, RULES_DIR,
            lambda f: checked(rule_rows(stack, parse_yaml(f[RULES_FILE], RULES_FILE))), _saving(stack))
        am_targets = [f"{s.name}:{s.ui_port or 9093}" for s in services if s.role == "alertmanager"]
        has_rules = rules_as_rows or bool(rule_paths)

        def prometheus(f):
            jobs = prometheus_rows(stack, parse_yaml(f[PROMETHEUS_FILE], PROMETHEUS_FILE), am_targets, has_rules)
            return checked(jobs, stack.scrape_interval, stack.evaluation_interval)

        if not _convert(kept, PROMETHEUS_FILE, PROMETHEUS_FILE, prometheus,
                        _saving(stack, "scrape_interval", "evaluation_interval")):
            stack.refresh_from_db()

    if "alertmanager" in roles:
        def alertmanager(f):
            receivers, routes, inhibits = alertmanager_rows(stack, parse_yaml(f[ALERTMANAGER_FILE],
                                                                               ALERTMANAGER_FILE))
            return checked(receivers + routes + inhibits, stack.alert_group_by, stack.alert_group_wait,
                           stack.alert_group_interval, stack.alert_repeat_interval)

        if not _convert(kept, ALERTMANAGER_FILE, ALERTMANAGER_FILE, alertmanager,
                        _saving(stack, "alert_group_by", "alert_group_wait", "alert_group_interval",
                                "alert_repeat_interval")):
            stack.refresh_from_db()

    if "grafana" in roles:
        _convert(kept, DATASOURCES_FILE, OWNED_AREA[DATASOURCES_FILE],
                 lambda f: checked(datasource_rows(stack, f)), _saving(stack))
        def provider(f):
            stack.grafana_dashboard_provider = provider_settings(f)
            return checked([], stack.grafana_dashboard_provider)

        _convert(kept, PROVIDERS_FILE, OWNED_AREA[PROVIDERS_FILE], provider,
                 _saving(stack, "grafana_dashboard_provider"))
        _convert(kept, DASHBOARDS_DIR + "/", OWNED_AREA[DASHBOARDS_DIR],
                 lambda f: checked(dashboard_rows(stack, f, DASHBOARDS_DIR)), _saving(stack))
        stack.refresh_from_db()

    if "fluentd" in roles:
        def fluentd(f):
            if list(f) != [FLUENTD_FILE]:
                raise NotExact()
            return checked(*log_routes(stack, f[FLUENTD_FILE], elasticsearch_host(services)))

        _convert(kept, FLUENTD_FILE, OWNED_AREA[FLUENTD_FILE], fluentd,
                 _saving(stack, "fluentd_drop_own_events", "fluentd_stdout_unmatched"))
        stack.refresh_from_db()
    return {**kept.files, **binary}
