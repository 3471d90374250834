"""An imported project's config files → rows, where the rows hold them exactly.

Each recognised file (prometheus.yml, the rule file, alertmanager.yml) is read,
turned into unsaved rows, rendered back by stacks.render, and compared with the
original (defaults filled in on both sides). Only when they mean the same does
the file become rows the admin edits; otherwise it stays a stack file, kept and
written back byte for byte."""
from .models import AlertRule, InhibitRule, Receiver, Route, ScrapeJob
from .render import ALERTMANAGER_FILE, PROMETHEUS_FILE, RULES_FILE
from .render import alertmanager as am_render
from .render import prometheus as prom_render
from .yamlsafe import load_yaml

RULES_DIR = RULES_FILE.rsplit("/", 1)[0] + "/"


class NotExact(Exception):
    """The rows cannot hold this file as it is: keep it verbatim."""


def _only(mapping, allowed):
    if not isinstance(mapping, dict) or set(mapping) - set(allowed):
        raise NotExact()
    return mapping


# --- prometheus.yml ---------------------------------------------------------------

def _norm_prometheus(doc):
    g = {"scrape_interval": "1m", "evaluation_interval": "1m", **(doc.get("global") or {})}
    jobs = []
    for job in doc.get("scrape_configs") or []:
        jobs.append({"metrics_path": "/metrics", "scheme": "http", "scrape_interval": g["scrape_interval"], **job})
    # Prometheus scrapes every job alike whatever their order: compared by name.
    return {"global": g, "rule_files": doc.get("rule_files") or [], "alerting": doc.get("alerting") or {},
            "scrape_configs": sorted(jobs, key=lambda j: str(j.get("job_name")))}


def prometheus_rows(stack, doc, am_targets, has_rules):
    _only(doc, {"global", "rule_files", "alerting", "scrape_configs"})
    g = _only(doc.get("global") or {}, {"scrape_interval", "evaluation_interval"})
    stack.scrape_interval = str(g.get("scrape_interval", "1m"))
    stack.evaluation_interval = str(g.get("evaluation_interval", "1m"))
    jobs = []
    for entry in doc.get("scrape_configs") or []:
        _only(entry, {"job_name", "static_configs", "metrics_path", "scheme", "scrape_interval"})
        statics = entry.get("static_configs") or [{}]
        if len(statics) != 1:
            raise NotExact()
        static = _only(statics[0], {"targets", "labels"})
        job = ScrapeJob(stack=stack, job_name=str(entry.get("job_name", "")),
                        targets=[str(t) for t in static.get("targets") or []],
                        labels={str(k): str(v) for k, v in (static.get("labels") or {}).items()},
                        metrics_path=str(entry.get("metrics_path", "/metrics")),
                        scheme=str(entry.get("scheme", "http")),
                        scrape_interval=str(entry.get("scrape_interval", "")))
        jobs.append(job)
    rendered = prom_render.prometheus_dict(stack, jobs, am_targets, has_rules)
    if _norm_prometheus(rendered) != _norm_prometheus(doc):
        raise NotExact()
    return jobs


# --- rule files ---------------------------------------------------------------------

def rule_rows(stack, doc):
    _only(doc, {"groups"})
    rules, seen = [], set()
    for group in doc.get("groups") or []:
        _only(group, {"name", "rules"})
        for entry in group.get("rules") or []:
            _only(entry, {"alert", "expr", "for", "labels", "annotations"})
            labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
            key = (str(group["name"]), str(entry.get("alert")))
            if "alert" not in entry or key in seen or labels.get("severity") not in dict(AlertRule.SEVERITIES):
                raise NotExact()
            seen.add(key)
            rules.append(AlertRule(stack=stack, group=key[0], name=key[1], expr=str(entry["expr"]),
                                   for_duration=str(entry.get("for", "")), severity=labels.pop("severity"),
                                   labels=labels, annotations={str(k): str(v) for k, v in
                                                               (entry.get("annotations") or {}).items()}))
    if prom_render.rules_dict(rules) != doc:
        raise NotExact()
    return rules


# --- alertmanager.yml ------------------------------------------------------------------

ROUTE_DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


def _receiver(stack, entry):
    kinds = [k for k in ("webhook_configs", "email_configs", "slack_configs") if k in entry]
    _only(entry, {"name", *kinds})
    if len(kinds) != 1 or len(entry[kinds[0]]) != 1:
        raise NotExact()
    cfg = entry[kinds[0]][0]
    r = Receiver(stack=stack, name=str(entry["name"]))
    if kinds[0] == "webhook_configs":
        _only(cfg, {"url", "send_resolved"})
        r.kind, r.url, r.send_resolved = "webhook", str(cfg["url"]), bool(cfg.get("send_resolved", True))
    elif kinds[0] == "email_configs":
        _only(cfg, {"to", "from", "smarthost", "send_resolved"})
        r.kind, r.email_to, r.email_from = "email", str(cfg.get("to", "")), str(cfg.get("from", ""))
        r.smarthost, r.send_resolved = str(cfg.get("smarthost", "")), bool(cfg.get("send_resolved", False))
    else:
        _only(cfg, {"api_url", "channel", "send_resolved"})
        r.kind, r.url, r.slack_channel = "slack", str(cfg.get("api_url", "")), str(cfg.get("channel", ""))
        r.send_resolved = bool(cfg.get("send_resolved", False))
    return r


def _norm_alertmanager(doc):
    route = {**ROUTE_DEFAULTS, **doc["route"]}
    receivers = []
    for entry in doc.get("receivers") or []:
        entry = dict(entry)
        for kind, default in (("webhook_configs", True), ("email_configs", False), ("slack_configs", False)):
            if kind in entry:
                entry[kind] = [{"send_resolved": default, **c} for c in entry[kind]]
        receivers.append(entry)
    return {"route": route, "receivers": receivers, "inhibit_rules": doc.get("inhibit_rules") or []}


def alertmanager_rows(stack, doc):
    """(receivers, routes, inhibit rules), unsaved; routes point at their receivers by name."""
    _only(doc, {"route", "receivers", "inhibit_rules"})
    root = _only(doc.get("route") or {}, {"receiver", "group_by", "group_wait", "group_interval",
                                          "repeat_interval", "routes"})
    receivers = [_receiver(stack, e) for e in doc.get("receivers") or []]
    by_name = {r.name: r for r in receivers}
    if root.get("receiver") not in by_name or len(by_name) != len(receivers):
        raise NotExact()
    by_name[root["receiver"]].is_default = True
    stack.alert_group_by = [str(x) for x in root.get("group_by") or []]
    for key, default in ROUTE_DEFAULTS.items():
        setattr(stack, f"alert_{key}", str(root.get(key, default)))
    routes = []
    for i, child in enumerate(root.get("routes") or []):
        _only(child, {"receiver", "matchers", "group_by", "continue"})
        if child.get("receiver") not in by_name:
            raise NotExact()
        routes.append(Route(stack=stack, receiver=by_name[child["receiver"]], order=i,
                            matchers=[str(m) for m in child.get("matchers") or []],
                            group_by=[str(x) for x in child.get("group_by") or []],
                            continue_matching=bool(child.get("continue", False))))
    inhibits = []
    for entry in doc.get("inhibit_rules") or []:
        _only(entry, {"source_matchers", "target_matchers", "equal"})
        inhibits.append(InhibitRule(stack=stack, source_matchers=[str(m) for m in entry.get("source_matchers") or []],
                                    target_matchers=[str(m) for m in entry.get("target_matchers") or []],
                                    equal=[str(x) for x in entry.get("equal") or []]))
    rendered = am_render.alertmanager_dict(stack, receivers, routes, inhibits, "", "")
    if _norm_alertmanager(rendered) != _norm_alertmanager(doc):
        raise NotExact()
    return receivers, routes, inhibits


# --- all of them -------------------------------------------------------------------------

def _valid(rows):
    from django.core.exceptions import ValidationError

    try:
        for row in rows:
            row.full_clean(exclude=["stack", "receiver"])
    except ValidationError:
        raise NotExact() from None


def adopt_configs(stack, files):
    """Turn the recognised files of {path: text} into rows of `stack` (saved);
    returns {path: text} of the files kept verbatim. Call inside a transaction."""
    files = dict(files)
    services = list(stack.services.all())
    roles = {s.role for s in services}
    rule_paths = [p for p in files if p.startswith(RULES_DIR)]
    rules_as_rows = False

    def parse(path):
        try:
            data = load_yaml(files[path], path)
        except ValueError:
            raise NotExact() from None  # kept as it is; promtool/amtool say what is wrong with it
        if not isinstance(data, dict):
            raise NotExact()
        return data

    if "prometheus" in roles and rule_paths == [RULES_FILE]:
        try:
            rules = rule_rows(stack, parse(RULES_FILE))
            _valid(rules)
        except NotExact:
            pass
        else:
            AlertRule.objects.bulk_create(rules)
            del files[RULES_FILE]
            rules_as_rows = True
    if "prometheus" in roles and PROMETHEUS_FILE in files:
        am_targets = [f"{s.name}:{s.ui_port or 9093}" for s in services if s.role == "alertmanager"]
        has_rules = rules_as_rows or bool(rule_paths)
        try:
            jobs = prometheus_rows(stack, parse(PROMETHEUS_FILE), am_targets, has_rules)
            _valid(jobs)
        except NotExact:
            stack.refresh_from_db()
        else:
            stack.save()
            ScrapeJob.objects.bulk_create(jobs)
            del files[PROMETHEUS_FILE]
    if "alertmanager" in roles and ALERTMANAGER_FILE in files:
        try:
            receivers, routes, inhibits = alertmanager_rows(stack, parse(ALERTMANAGER_FILE))
            _valid(receivers + routes + inhibits)
        except NotExact:
            stack.refresh_from_db()
        else:
            stack.save()
            for r in receivers:
                r.save()
            for route in routes:
                route.save()  # Django takes the receiver's id, saved just above
            InhibitRule.objects.bulk_create(inhibits)
            del files[ALERTMANAGER_FILE]
    return files
