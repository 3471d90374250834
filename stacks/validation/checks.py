"""Validation of a rendered bundle: the real tools (promtool, amtool), the Compose
specification's schema, and cross-object checks no single tool makes.

Every problem is a Problem with the object it concerns, in the user's terms.
Errors block a render and a deploy; warnings are shown and let them through."""
import functools
import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema

from stacks.lib.composefile import (
    find_cycle,
    host_port_range,
    is_bind_source,
    parse_port,
    parse_volume,
    project_path,
    project_source,
    service_network_names,
    service_networks,
)
from stacks.lib.safe_paths import relative_file_problem
from stacks.lib.yaml_lines import locate_tool_message
from stacks.lib.yamlio import dump_yaml
from stacks.lib.yamlsafe import load_yaml
from stacks.models import LogRoute, Secret
from stacks.render import (
    ALERTMANAGER_FILE,
    COMPOSE_FILE,
    DASHBOARDS_DIR,
    DATASOURCES_FILE,
    FLUENTD_FILE,
    OWNED_AREA,
    PANEL_SECRETS,
    PROMETHEUS_FILE,
    RULES_FILE,
    Bundle,
    Mounted,
    render_bundle,
    takes_over,
)
from stacks.render.prometheus import rules_dict
from stacks.seams import broker
from stacks.seams.tools import run_tool, tool_message
from stacks.validation import containment, footprint
from stacks.validation.problems import Problem, errors  # noqa: F401 (errors: what callers filter with)
from stacks.validation.rule_tests import RuleTestsUnavailable, run_stack

# Debian's docker-compose package ships the Compose specification's schema; so
# does the docker-compose wheel. We read it from there rather than copy it.
COMPOSE_SCHEMA_CANDIDATES = [
    os.environ.get("COMPOSE_SCHEMA", ""),
    "/usr/lib/python3/dist-packages/compose/config/compose_spec.json",
]


def validate_stack(stack, bundle=None):
    bundle = bundle or render_bundle(stack)
    problems = []
    problems += secret_problems(bundle.missing_secrets)
    problems += checks_of_the_files(bundle)
    problems += check_cross_objects(stack, bundle)
    problems += check_rule_tests(stack)
    problems += check_bundle_paths(bundle)
    problems += containment.check(stack)
    return problems


def secret_problems(names):
    """Why each ${secret:NAME} the stack may not use was not filled in."""
    problems = []
    for name in sorted(names):
        if name in PANEL_SECRETS:
            why = "is the panel's own token: no stack may reference it."
        elif Secret.objects.filter(name=name).exists():
            why = "belongs to another stack: an admin must share it with this one."
        else:
            why = f"is used but no secret named {name!r} exists."
        problems.append(Problem("secrets", f"${{secret:{name}}} {why}"))
    return problems


def check_rule_tests(stack):
    """Each alert rule's own test cases, run by `promtool test rules`."""
    if not stack.pk:
        return []
    try:
        failing = run_stack(stack)
    except RuleTestsUnavailable as exc:
        return [Problem("alert rules", f"{exc} Their test cases were not run.", "warning")]
    return [Problem(f"alert rule {rule.name}", f"promtool test rules: {message}") for rule, message in failing]


def checks_of_the_files(bundle):
    """The schema and the tools look at the bundle alone: their result is kept by
    bundle hash, so a redeploy of an unchanged stack does not run them again.
    (Cross-object checks read other stacks, and always run.)"""
    key = f"panel:validated:{bundle.hash}"
    try:
        kept = broker.get(key)
    except broker.BrokerError:
        kept = None
    if kept is not None:
        return [Problem(**p) for p in json.loads(kept)]
    problems = check_compose_schema(bundle) + check_with_tools(bundle)
    if any("not installed" in p.message or "not found" in p.message for p in problems):
        return problems  # a tool was missing: not a verdict worth keeping
    try:
        broker.put(key, json.dumps([p.__dict__ for p in problems]), 86400)
    except broker.BrokerError:
        pass
    return problems


def check_bundle_paths(bundle):
    return [Problem(f"file {path}", problem) for path in bundle.files
            if (problem := relative_file_problem(path))]


# --- Compose schema ------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _compose_validator():
    for candidate in COMPOSE_SCHEMA_CANDIDATES:
        if candidate and Path(candidate).is_file():
            schema = json.loads(Path(candidate).read_text())
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
            if "2019-09" in schema.get("$schema", ""):
                cls = jsonschema.Draft201909Validator
            return cls(schema, format_checker=cls.FORMAT_CHECKER)
    return None


def check_compose_schema(bundle):
    validator = _compose_validator()
    if validator is None:
        return [Problem(COMPOSE_FILE, "The Compose schema was not found: install Debian's docker-compose "
                                      "package (the README's setup does) or set COMPOSE_SCHEMA.", "warning")]
    problems = []
    for err in sorted(validator.iter_errors(bundle.compose), key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        where = COMPOSE_FILE
        if len(path) >= 2 and path[0] == "services":
            where = f"service {path[1]}"
            path = path[2:]
        field = ".".join(str(p) for p in path)
        problems.append(Problem(where, f"{field + ': ' if field else ''}{err.message}"))
    return problems


# --- promtool and amtool ---------------------------------------------------------

def check_with_tools(bundle):
    # Every rule file, the team's own kept ones included.
    rule_files = sorted(p for p in bundle.files if p.startswith("prometheus/rules/") and p.endswith((".yml", ".yaml")))
    wanted = [p for p in (PROMETHEUS_FILE, ALERTMANAGER_FILE) if p in bundle.files] + rule_files
    if not wanted:
        return []
    problems = []
    with tempfile.TemporaryDirectory(prefix="panel-validate-") as tmp:
        for path in wanted:
            target = Path(tmp) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(bundle.files[path])
        checks = []
        if PROMETHEUS_FILE in bundle.files:
            # --syntax-only: rule_files name container paths that do not exist here;
            # the rules are checked on their own just below.
            checks.append((PROMETHEUS_FILE, ["promtool", "check", "config", "--syntax-only", PROMETHEUS_FILE]))
        for path in rule_files:
            checks.append((path, ["promtool", "check", "rules", path]))
        if ALERTMANAGER_FILE in bundle.files:
            checks.append((ALERTMANAGER_FILE, ["amtool", "check-config", ALERTMANAGER_FILE]))
        missing = [(path, args) for path, args in checks if shutil.which(args[0]) is None]
        for path, args in missing:
            problems.append(Problem(path, f"{args[0]} is not installed: this file was not checked.", "warning"))
        runnable = [(path, args) for path, args in checks if (path, args) not in missing]
        # The tools are independent processes: run them side by side.
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda c: run_tool(c[1], tmp), runnable))
        for (path, args), (code, output) in zip(runnable, results):
            if code != 0:
                message = tool_message(output, tmp)
                if path != PROMETHEUS_FILE:  # a rule or a route, not a line of a file the team never sees
                    message = locate_tool_message(message, bundle.files[path])
                problems.append(Problem(path, bundle.mask(message) or f"{args[0]} refused it"))
    return problems


def check_rule(rule):
    """promtool's verdict on one alert rule, for the admin form. Returns a message or ''."""
    if shutil.which("promtool") is None:
        return ""
    with tempfile.TemporaryDirectory(prefix="panel-rule-") as tmp:
        Path(tmp, "rule.yml").write_text(dump_yaml(rules_dict([rule])))
        text = dump_yaml(rules_dict([rule]))
        code, output = run_tool(["promtool", "check", "rules", "rule.yml"], tmp)
        return "" if code == 0 else locate_tool_message(tool_message(output, tmp), text)


# --- Cross-object checks ---------------------------------------------------------

def _ips_overlap(a, b):
    return a == b or "0.0.0.0" in (a, b) or "::" in (a, b)


def check_cross_objects(stack, bundle):
    doc = bundle.compose
    services = doc.get("services", {})
    problems = []
    declared_nets = set((doc.get("networks") or {}).keys()) | {"default"}
    declared_vols = set((doc.get("volumes") or {}).keys())

    for name, spec in services.items():
        where = f"service {name}"
        for dep in (spec.get("depends_on") or {}):
            if dep not in services:
                problems.append(Problem(where, f"depends on {dep!r}, which is not a service of this stack."))
        for net in service_networks(spec):
            if net not in declared_nets:
                problems.append(Problem(where, f"uses network {net!r}, which the stack does not declare."))
        for vol in spec.get("volumes") or []:
            source = parse_volume(vol)[0] if isinstance(vol, str) else vol.get("source", "")
            if project_source(source) is not None:
                if not _produced(project_source(source), bundle):
                    problems.append(Problem(where, f"mounts {source}, which the stack does not produce "
                                                   "(no generated or added file there)."))
            elif source and not is_bind_source(source) and source not in declared_vols:
                problems.append(Problem(where, f"mounts volume {source!r}, which the stack does not declare."))
        replicas = (spec.get("deploy") or {}).get("replicas", 1)
        for port in spec.get("ports") or []:
            try:
                ip, host, _c, _p = parse_port(port)
            except ValueError as exc:
                problems.append(Problem(where, str(exc)))
                continue
            span = host_port_range(host)
            if span and span[1] > span[0]:
                lo, hi = span
                if hi - lo + 1 < replicas:
                    problems.append(Problem(where, f"{replicas} replicas cannot share the {hi - lo + 1} host ports {host}."))
            elif host and replicas > 1:
                problems.append(Problem(where, f"{replicas} replicas all publish host port {host}: only one can "
                                               f"bind it. Use a range such as {host}-{int(host) + replicas - 1}."))
        command = " ".join(spec.get("command") or [])
        if "--web.enable-admin-api" in command and any(
                parse_port(p)[0] in ("", "0.0.0.0", "::") for p in spec.get("ports") or []):
            problems.append(Problem(where, "--web.enable-admin-api on a port published to all interfaces lets "
                                           "anyone who reaches it delete Prometheus' data. Publish on 127.0.0.1 "
                                           "or drop the flag."))
        if spec.get("logging", {}).get("driver") == "fluentd":
            opts = spec["logging"].get("options") or {}
            if opts.get("fluentd-async") not in ("true", "1"):
                problems.append(Problem(where, 'fluentd logging without fluentd-async: "true" stops the container '
                                               "from starting while Fluentd is down.", "warning"))

    for kind in ("configs", "secrets"):
        for key, spec in (doc.get(kind) or {}).items():
            path = project_path((spec or {}).get("file", ""))
            if path is not None and not _produced(path, bundle):
                problems.append(Problem(f"{kind} {key}", f"file {spec['file']}: the stack has no such file."))
        for name, spec in services.items():
            for entry in spec.get(kind) or []:
                source = entry if isinstance(entry, str) else entry.get("source")
                if source not in (doc.get(kind) or {}):
                    problems.append(Problem(f"service {name}", f"uses {kind[:-1]} {source!r}, which the stack "
                                                               f"does not declare."))
    problems += _check_wrapped_dashboards(bundle)

    cycle = find_cycle(services)
    if cycle:
        problems.append(Problem(f"service {cycle[0]}", "depends_on makes a cycle: " + " → ".join(cycle) + "."))

    # Other stacks are seen through their footprints (stacks.validation.footprint): what
    # one validation costs does not depend on how many or how large they are.
    if stack.pk:
        footprint.record(stack, doc)
    problems += _check_host_port_clashes(stack, bundle)
    problems += _check_scrape_targets(stack, bundle)
    problems += _check_log_tags(stack, bundle)
    problems += _check_alerting(stack, bundle)
    problems += _check_rows_not_rendered(stack)
    return _dedupe(problems)


def _produced(path, bundle):
    """Whether the bundle has a file at `path` or under it ("" is the directory)."""
    return path == "" or path in bundle.files or any(p.startswith(path + "/") for p in bundle.files)


def _check_wrapped_dashboards(bundle):
    """The tutorial's dashboard is the HTTP API's {"dashboard": …}: Grafana's file
    provisioning reads the model itself and refuses it ("title cannot be empty")."""
    problems = []
    for path, text in bundle.files.items():
        if not (path.startswith("grafana/") and path.endswith(".json")) or hasattr(text, "data"):
            continue
        try:
            model = json.loads(text)
        except ValueError:
            problems.append(Problem(f"file {path}", "not JSON: Grafana cannot load this dashboard.", "warning"))
            continue
        if isinstance(model, dict) and isinstance(model.get("dashboard"), dict) and "title" not in model:
            problems.append(Problem(f"file {path}", 'the dashboard is wrapped in {"dashboard": …}, the HTTP API\'s '
                                                    "form: Grafana's file provisioning reads the model itself and "
                                                    "refuses this one (its title is empty). Unwrap it.", "warning"))
    return problems


def _dedupe(problems):
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _check_host_port_clashes(stack, bundle):
    problems = []
    mine = [(claim, f"{stack.slug}/{svc}") for claim, svc in footprint.claims(bundle.compose)]
    for i, ((ip, proto, port), owner) in enumerate(mine):
        for (ip2, proto2, port2), owner2 in mine[i + 1:]:
            if port == port2 and proto == proto2 and _ips_overlap(ip, ip2) and owner != owner2:
                problems.append(Problem(f"service {owner.split('/')[1]}",
                                        f"host port {port}/{proto} is also published by {owner2}."))
    by_port = {}
    for (ip, proto, port), owner in mine:
        by_port.setdefault(port, []).append((ip, proto, owner))
    for (ip2, proto2, port2), owner2 in (footprint.claims_on(by_port, exclude=stack) if by_port else []):
        for ip, proto, owner in by_port[port2]:
            if proto == proto2 and _ips_overlap(ip, ip2):
                problems.append(Problem(f"service {owner.split('/')[1]}",
                                        f"host port {port2}/{proto} is also published by {owner2}."))
    return problems


def _check_scrape_targets(stack, bundle):
    prom_names = {svc.name for svc in stack.services.all() if svc.role == "prometheus"}
    prom = [(n, s) for n, s in bundle.compose.get("services", {}).items() if n in prom_names]
    if not prom:
        return []
    name, spec = prom[0]
    prom_nets = service_network_names(stack.slug, bundle.compose, spec)
    extra_hosts = {h.split(":")[0] for h in spec.get("extra_hosts") or []}
    reachable = {name, "localhost", "127.0.0.1"} | extra_hosts
    for svc_name, svc in bundle.compose["services"].items():
        if prom_nets & service_network_names(stack.slug, bundle.compose, svc):
            reachable.add(svc_name)
    reachable |= footprint.services_on(prom_nets, exclude=stack)
    jobs = list(stack.scrape_jobs.all())
    unresolved = {t.rsplit(":", 1)[0] for job in jobs for t in job.targets} - reachable
    elsewhere = footprint.stacks_running(unresolved, exclude=stack) if unresolved else {}
    problems = []
    for job in jobs:
        for target in job.targets:
            host = target.rsplit(":", 1)[0]
            if host in reachable or host.replace(".", "").isdigit():
                continue
            if host in elsewhere:
                msg = (f"target {target}: service {host} of stack {elsewhere[host]} shares no network with "
                       f"{name}; put both on a shared network.")
            else:
                msg = f"target {target}: no service named {host!r} on {name}'s networks."
            problems.append(Problem(f"scrape job {job.job_name}", msg))
        for cfg in job.dns_sd_configs:
            # A bare name is a service Compose's DNS would answer; a dotted one may be anyone's.
            for host in cfg["names"] if cfg.get("type", "SRV") != "SRV" else []:
                if "." not in host and host not in reachable:
                    problems.append(Problem(f"scrape job {job.job_name}", f"DNS name {host}: no service of that "
                                                                          f"name on {name}'s networks; it finds "
                                                                          "no target.", "warning"))
    return problems


def _check_log_tags(stack, bundle):
    routes = list(LogRoute.objects.all())
    if not routes:
        return []
    problems = []
    for name, spec in bundle.compose.get("services", {}).items():
        logging = spec.get("logging") or {}
        if logging.get("driver") != "fluentd":
            continue
        tag = (logging.get("options") or {}).get("tag")
        if tag and "{{" not in tag and not any(r.matches(tag) for r in routes):
            problems.append(Problem(f"service {name}", f"log tag {tag!r} matches no log route: its logs reach "
                                                       "Fluentd's stdout only, never Elasticsearch.", "warning"))
    return problems


KNOWN_ALERT_LABELS = {"alertname", "severity", "job", "instance"}


def _check_rows_not_rendered(stack):
    """Rows that no file carries: their file is the team's own (kept verbatim) or
    no service mounts it. Said, rather than silently ignored."""
    services = list(stack.services.all())
    roles = {s.role for s in services}
    mounted = Mounted(services)
    kept = set(stack.files.values_list("path", flat=True))
    checks = [("prometheus", RULES_FILE, stack.alert_rules.filter(enabled=True).exists(), "Alert rules"),
              ("prometheus", PROMETHEUS_FILE, stack.scrape_jobs.exists(), "Scrape jobs"),
              ("alertmanager", ALERTMANAGER_FILE, stack.receivers.exists(), "Receivers and routes"),
              ("grafana", DATASOURCES_FILE, stack.datasources.exists(), "Grafana datasources"),
              ("grafana", DASHBOARDS_DIR + "/", stack.dashboards.exists(), "Grafana dashboards"),
              ("fluentd", FLUENTD_FILE, stack.log_routes.exists(), "Log routes")]
    problems = []
    for role, path, has_rows, what in checks:
        if has_rows and role in roles and not takes_over(path, mounted, kept):
            area = OWNED_AREA.get(path, path)
            why = ("the stack keeps its own file there" if any(k == area or (area.endswith("/") and k.startswith(area))
                                                              for k in kept)
                   else f"no {role} service mounts ./{path}")
            problems.append(Problem(path, f"{what} are not rendered: {why}.", "warning"))
    return problems


def _check_alerting(stack, bundle):
    if ALERTMANAGER_FILE not in bundle.files or stack.files.filter(path=ALERTMANAGER_FILE).exists():
        return []  # no Alertmanager config of the panel's: the image's or the team's own file
    problems = []
    receivers = list(stack.receivers.all())
    if not receivers:
        problems.append(Problem("alerting", "Alertmanager runs in this stack but it has no receiver: alerts go nowhere."))
    elif sum(1 for r in receivers if r.is_default) != 1:
        problems.append(Problem("alerting", "Mark exactly one receiver as the default (the root route's receiver)."))
    carried = set(KNOWN_ALERT_LABELS)
    for rule in stack.alert_rules.all():
        carried |= set(rule.labels)
        carried |= _labels_in_expr(rule.expr)
    for rule in stack.inhibit_rules.all():
        unknown = [label for label in rule.equal if label not in carried]
        if unknown:
            problems.append(Problem(f"inhibit rule {rule}", f"equal lists {', '.join(unknown)}, which no alert "
                                                            "rule carries: this rule never inhibits anything.",
                                    "warning"))
    if any(r.kind == "panel" for r in receivers):
        am = [s for s in stack.services.all() if s.role == "alertmanager"]
        for svc in am:
            if not any(h.startswith("host.docker.internal:") for h in svc.extra_hosts):
                problems.append(Problem(f"service {svc.name}", "posts to this panel through host.docker.internal; "
                                                               "add extra_hosts host.docker.internal:host-gateway.",
                                        "warning"))
    return problems


def _labels_in_expr(expr):
    labels = set()
    for m in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in m.group(1).split(",") if x.strip()}
    for m in re.finditer(r"\{([^}]*)\}", expr):
        labels |= {x.split("=")[0].split("!")[0].strip() for x in m.group(1).split(",") if x.strip()}
    return labels


def parse_compose_text(text):
    """YAML → dict with a user-facing error, for imports and pasted files:
    bounded in size and in what aliases expand to (stacks.lib.yamlsafe)."""
    doc = load_yaml(text, COMPOSE_FILE)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ValueError("This is not a Compose file: it has no 'services' mapping.")
    return doc


def check_compose_schema_doc(doc):
    """A Compose document as a user wrote it against the specification's schema:
    ["services.web.ports.0: … is not valid …"] (empty when it conforms)."""
    validator = _compose_validator()
    if validator is None:
        return []
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        out += _schema_problems(err)
    return out[:10]


def _schema_problems(err):
    """One schema error in the user's terms, named by the path of the key it is
    about (an unknown key by its own path, not its parent's)."""
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known, patterns = err.schema.get("properties", {}), err.schema.get("patternProperties", {})
        unknown = [k for k in err.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        if unknown:
            return [f"{path + '.' if path else ''}{k}: Compose has no key {k!r} here" for k in unknown]
    return [f"{path or COMPOSE_FILE}: {err.message}"]


__all__ = ["Problem", "validate_stack", "errors", "check_rule", "parse_compose_text", "Bundle"]
