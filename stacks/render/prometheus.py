"""prometheus.yml and its rule files."""
from .yamlio import sorted_dict

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


def prometheus_dict(stack, jobs, alertmanager_targets, has_rules, panel_token=""):
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
        static = {"targets": list(job.targets)}
        if job.labels:
            static["labels"] = sorted_dict(job.labels)
        entry["static_configs"] = [static]
        scrape.append(entry)
    doc["scrape_configs"] = scrape
    return doc
