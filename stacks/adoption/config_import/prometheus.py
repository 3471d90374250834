"""prometheus.yml and its rule file → scrape jobs, settings and alert rules."""
from stacks.adoption.config_import.common import NotExact
from stacks.adoption.config_import.common import only as _only
from stacks.models import AlertRule, ScrapeJob
from stacks.render import prometheus as prom_render

# --- prometheus.yml ---------------------------------------------------------------

def _norm_prometheus(doc):
    g = {"scrape_interval": "1m", "evaluation_interval": "1m", **(doc.get("global") or {})}
    jobs = []
    for job in doc.get("scrape_configs") or []:
        job = {"metrics_path": "/metrics", "scheme": "http", "scrape_interval": g["scrape_interval"], **job}
        if "dns_sd_configs" in job:
            job["dns_sd_configs"] = [{"type": "SRV", "refresh_interval": "30s", **c} if isinstance(c, dict) else c
                                     for c in job["dns_sd_configs"] or []]
        jobs.append(job)
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
        _only(entry, {"job_name", "static_configs", "dns_sd_configs", "metrics_path", "scheme", "scrape_interval"})
        statics = entry.get("static_configs") or [{}]
        dns = entry.get("dns_sd_configs") or []
        if not isinstance(dns, list) or not all(isinstance(c, dict) for c in dns):
            raise NotExact()
        if len(statics) != 1:
            raise NotExact()
        static = _only(statics[0], {"targets", "labels"})
        job = ScrapeJob(stack=stack, job_name=str(entry.get("job_name", "")),
                        targets=[str(t) for t in static.get("targets") or []], dns_sd_configs=dns,
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


