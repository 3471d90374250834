"""prometheus.yml and its rule files."""
from stacks.lib.yamlio import sorted_dict

RULES_DIR_IN_CONTAINER = "/etc/prometheus/rules"


def rules_dict(rules):
    groups = {}
    for rule in rules:
        entry = {"alert": rule.name, "expr": rule.expr}
        if rule.for_duration:
            entry["for"] = rule.for_duration
        labels = {"severity": rule.severity, **rule.labels}
        entry["labels"] = sorted_dict(labels)
        if rule.annotations:
            # Kept verbatim: {{ $labels.x }} is Prometheus' own template language.
            entry["annotations"] = sorted_dict(rule.annotations)
        groups.setdefault(rule.group, []).append(entry)
    return {"groups": [{"name": name, "rules": entries} for name, entries in groups.items()]}


HEARTBEAT = "PanelHeartbeat"


def heartbeat_rules(stack_slug):
    """An always-firing rule, routed to the panel: while it keeps arriving, the
    path Prometheus → Alertmanager → panel works (kube-prometheus' Watchdog)."""
    return {"groups": [{"name": "panel-heartbeat", "rules": [{
        "alert": HEARTBEAT, "expr": "vector(1)",
        "labels": {"severity": "none", "stack": stack_slug, "panel": "heartbeat"},
        "annotations": {"summary": "Always firing: the control panel watches that it keeps arriving."}}]}]}


def prometheus_dict(stack, jobs, alertmanager_targets, has_rules, panel_token="", resolve=None):
    """`resolve(host)` names the stack and service behind a target (render.targets)."""
    resolve = resolve or (lambda host: None)
    doc = {"global": {"scrape_interval": stack.scrape_interval,
                      "evaluation_interval": stack.evaluation_interval}}
    if has_rules:
        doc["rule_files"] = [f"{RULES_DIR_IN_CONTAINER}/*.yml"]
    if alertmanager_targets:
        doc["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanager_targets}]}]}
    scrape = []
    for job in jobs:
        entry = {"job_name": job.job_name}
        if job.scrape_interval:
            entry["scrape_interval"] = job.scrape_interval
        if job.metrics_path != "/metrics":
            entry["metrics_path"] = job.metrics_path
        if job.scheme != "http":
            entry["scheme"] = job.scheme
        if job.panel_token:
            entry["authorization"] = {"type": "Bearer", "credentials": panel_token}
        entry.update(_target_configs(job, resolve))
        scrape.append(entry)
    doc["scrape_configs"] = scrape
    return doc


def _target_configs(job, resolve):
    """Static targets grouped by the stack and service behind them; a replicated
    service through DNS discovery (type A: Compose's DNS answers one address per
    replica), so each replica is scraped, as its own `instance`."""
    static, dns, relabel, containers = {}, [], [], False
    for target in job.targets:
        host, port = target.rsplit(":", 1)
        found = resolve(host)
        containers = containers or bool(found and found.role == "cadvisor")
        labels = {"stack": found.stack, "service": found.service} if found else {}
        labels.update(job.labels)  # what the user wrote wins
        if found and found.replicas > 1:
            dns.append({"names": [host], "type": "A", "port": int(port)})
            relabel += _labels_for_name(host, labels)
        else:
            static.setdefault(tuple(sorted(labels.items())), []).append(target)
    for cfg in job.dns_sd_configs:  # the job's own DNS discovery, as written
        dns.append(dict(cfg))
        for host in cfg["names"]:
            # An A/AAAA name is a service name Compose's DNS answers; an SRV name is not.
            found = resolve(host) if cfg.get("type", "SRV") != "SRV" else None
            containers = containers or bool(found and found.role == "cadvisor")
            labels = {"stack": found.stack, "service": found.service} if found else {}
            labels.update(job.labels)
            relabel += _labels_for_name(host, labels)
    out = {}
    if static:
        groups = []
        for labels, targets in static.items():
            group = {"targets": targets}
            if labels:
                group["labels"] = sorted_dict(dict(labels))
            groups.append(group)
        out["static_configs"] = groups
    if dns:
        out["dns_sd_configs"] = dns
    if relabel:
        out["relabel_configs"] = relabel
    if containers:
        # cAdvisor's series describe other containers: they name their own stack
        # and service through the Compose labels cAdvisor copies.
        out["metric_relabel_configs"] = [
            {"source_labels": [f"container_label_com_docker_compose_{source}"], "regex": "(.+)",
             "target_label": label}
            for source, label in (("project", "stack"), ("service", "service"))]
    return out


def _labels_for_name(host, labels):
    """Relabelling that gives the targets DNS found under `host` these labels."""
    return [{"source_labels": ["__meta_dns_name"], "regex": _regex_quote(host), "target_label": key,
             "replacement": value} for key, value in sorted(labels.items())]


def _regex_quote(text):
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)
