"""The Swarm backend: a stack as Swarm services, converted the way `docker stack
deploy` does (services, overlay networks, configs and secrets `{stack}_{key}`, all
labelled com.docker.stack.namespace), beside the Compose backend with the same
verbs. Conversion and plan are pure (SwarmPlan from Desired and SwarmObserved);
SwarmBackend.apply carries a plan out and follows every task until it runs.

Files of the bundle travel as Swarm configs named by content hash (a file holding
a secret travels as a Swarm secret), so they reach whichever node runs a task; a
changed file is a new config, the service is updated to it, the old one removed.
Top-level `configs:`/`secrets:` a service names do the same, at the targets
Compose uses; top-level network and volume options are honoured as
`docker stack deploy` passes them (the network create, each volume mount's
driver config)."""
import hashlib
import json
import time
from dataclasses import dataclass, field

from django.conf import settings

from stacks.composefile import network_name, parse_port, project_source, service_networks, volume_name

from .backend import Logs, status_row
from .client import EngineError, api, translated
from .project import network_options, remove_networks_and_volumes, volume_options
from .service import duration_ns

NAMESPACE = "com.docker.stack.namespace"  # what `docker stack ls/services/ps/rm` look for
STACK_IMAGE = "com.docker.stack.image"
SPEC_HASH = "io.panel.spec-hash"
FILE_PATH = "io.panel.file"
CONVERGE_TIMEOUT = 180
POLL = 0.5
FAILED_STATES = {"failed", "rejected", "orphaned"}
MAX_OBJECT_BYTES = 500 * 1024  # a Swarm config or secret


# --- Compose → Swarm service spec (pure) ----------------------------------------------

def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def object_name(project, key, text):
    """Configs and secrets are immutable: the name carries the content's hash
    (kept whole when a long name is cut to Swarm's 64 characters)."""
    return f"{f'{project}_{key}'[:51]}_{_digest(text)}"


def file_object_name(project, path, text):
    return object_name(project, path.replace("/", "_").replace(".", "_"), text)


def payload(text):
    """What a config or secret holds: a binary bundle file's own bytes (render.BinaryFile,
    compared as its base64 text), else the text's."""
    return text.data if hasattr(text, "data") else text.encode()


def network_create_options(project, spec):
    """create_network arguments for a stack network, as `docker stack deploy`
    passes them: the Compose keys, the overlay driver unless one is given, the
    stack's label. Attachable unless the file says otherwise (as this backend
    made them from the start, where `docker stack deploy` does not: a stand-alone
    `docker run --network` can join a stack's network, to debug it)."""
    options = network_options({**spec, "driver": spec.get("driver") or "overlay"}, {NAMESPACE: project})
    options.setdefault("attachable", True)
    return options


def _volume_mount_options(project, spec):
    """A named volume's VolumeOptions in a mount: Swarm creates the volume on the node
    that runs the task, with these labels and driver. None for an external volume."""
    if spec.get("external"):
        return None
    opts = volume_options(spec, {NAMESPACE: project})
    out = {"Labels": opts["labels"]}
    if "driver" in opts or "driver_opts" in opts:
        out["DriverConfig"] = {"Name": opts.get("driver", "local"), "Options": opts.get("driver_opts") or {}}
    return out


def _mode(value):
    if value is None:
        return 0o444
    return int(value, 8) if isinstance(value, str) else int(value)


def top_level_refs(project, doc, files, spec):
    """A service's `configs:` and `secrets:` entries as Swarm references, the way
    `docker stack deploy` attaches them (a config at /<name>, a secret at
    /run/secrets/<name>, unless a target is given; uid, gid and mode honoured),
    and {object name: (kind, path, content)} for the files they name."""
    refs, objects = {"Configs": [], "Secrets": []}, {}
    for key, base, kind in (("configs", "/", "config"), ("secrets", "/run/secrets/", "secret")):
        defs = doc.get(key) or {}
        for entry in spec.get(key) or []:
            entry = {"source": entry} if isinstance(entry, str) else entry
            source = entry["source"]
            file = str((defs.get(source) or {}).get("file", ""))
            path = project_source(file if file.startswith((".", "/")) or not file else f"./{file}")
            if path not in files:
                raise EngineError(f"{kind} {source}: the stack has no file {path or '(none given)'} to make a "
                                  f"Swarm {kind} of.", permanent=True)
            obj = object_name(project, source, files[path])
            objects[obj] = (kind, path, files[path])
            target = entry.get("target") or source
            refs["Secrets" if kind == "secret" else "Configs"].append(
                {"File": {"Name": target if target.startswith("/") else base + target,
                          "UID": str(entry.get("uid", "0")), "GID": str(entry.get("gid", "0")),
                          "Mode": _mode(entry.get("mode"))},
                 ("SecretName" if kind == "secret" else "ConfigName"): obj})
    return refs, objects


def _files_under(files, source):
    """Bundle files a bind source names: the file itself, or those under a directory."""
    rel = source[2:] if source.startswith("./") else source.lstrip(".").lstrip("/")
    rel = rel.rstrip("/")
    if rel in files:
        return {rel: ""}
    return {p: p[len(rel) + 1:] for p in files if p.startswith(rel + "/")}


def _restart_policy(spec):
    policy = (spec.get("deploy") or {}).get("restart_policy")
    if policy:
        out = {"Condition": {"on-failure": "on-failure", "none": "none"}.get(policy.get("condition"), "any")}
        for key, api_key in (("delay", "Delay"), ("window", "Window")):
            if key in policy:
                out[api_key] = duration_ns(policy[key])
        if "max_attempts" in policy:
            out["MaxAttempts"] = int(policy["max_attempts"])
        return out
    restart = spec.get("restart", "no")
    return {"Condition": {"no": "none", "on-failure": "on-failure"}.get(restart, "any")}


def _update_config(conf, default_failure):
    conf = conf or {}
    out = {"Parallelism": int(conf.get("parallelism", 1)),
           "FailureAction": conf.get("failure_action", default_failure),
           "Monitor": duration_ns(conf.get("monitor", "5s")),
           "MaxFailureRatio": float(conf.get("max_failure_ratio", 0)),
           "Order": conf.get("order", "stop-first")}
    if "delay" in conf:
        out["Delay"] = duration_ns(conf["delay"])
    return out


def _resources(res):
    out = {}
    for key, api_key in (("limits", "Limits"), ("reservations", "Reservations")):
        part = (res or {}).get(key) or {}
        r = {}
        if "cpus" in part:
            r["NanoCPUs"] = int(float(part["cpus"]) * 1e9)
        if "memory" in part:
            r["MemoryBytes"] = _bytes(part["memory"])
        if r:
            out[api_key] = r
    return out


def _bytes(text):
    text = str(text).strip().lower().rstrip("b")
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(text[-1:], 1)
    return int(float(text.rstrip("kmg")) * mult)


def _ports(spec):
    out = []
    for p in spec.get("ports") or []:
        if isinstance(p, dict):  # long syntax: mode honoured
            out.append({"Protocol": p.get("protocol", "tcp"), "TargetPort": int(p["target"]),
                        "PublishedPort": int(p["published"]), "PublishMode": p.get("mode", "ingress")})
            continue
        _ip, host, container, proto = parse_port(p)  # a host IP cannot be bound in Swarm mode
        if host:
            out.append({"Protocol": proto, "TargetPort": int(container.split("-")[0]),
                        "PublishedPort": int(host.split("-")[0]), "PublishMode": settings.PANEL_SWARM_PUBLISH_MODE})
    return out


def convert_service(project, doc, files, mask, name, spec):
    """(service spec without object ids, {object name: (kind, path, text)}) for one
    Compose service; `mask` tells a file holding a secret (it changes the text)."""
    deploy = spec.get("deploy") or {}
    image = spec["image"] if spec.get("image") else f"{project}_{name}"
    container = {"Image": image, "Labels": {NAMESPACE: project}}
    if spec.get("entrypoint"):
        container["Command"] = [a.replace("$$", "$") for a in spec["entrypoint"]]
    if spec.get("command"):
        container["Args"] = [a.replace("$$", "$") for a in spec["command"]]
    if spec.get("environment"):
        container["Env"] = [f"{k}={v}" for k, v in sorted(spec["environment"].items())]
    if spec.get("user"):
        container["User"] = spec["user"]
    hc = spec.get("healthcheck")
    if hc and not hc.get("disable"):
        container["Healthcheck"] = {"Test": hc["test"], **{
            api_key: duration_ns(hc[key]) for key, api_key in
            (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")) if key in hc}}
        if "retries" in hc:
            container["Healthcheck"]["Retries"] = int(hc["retries"])
    hosts = [f"{h.split(':', 1)[1]} {h.split(':', 1)[0]}" for h in spec.get("extra_hosts") or []
             if not h.endswith(":host-gateway")]  # host-gateway means nothing to Swarm
    if hosts:
        container["Hosts"] = hosts
    mounts, refs, objects = [], {"Configs": [], "Secrets": []}, {}
    vol_defs = doc.get("volumes") or {}
    for vol in spec.get("volumes") or []:
        parts = vol.split(":")
        if len(parts) == 1:
            continue
        source, target = parts[0], parts[1]
        read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        if source.startswith("."):
            for path, rel in sorted(_files_under(files, source).items()):
                text = files[path]
                kind = "secret" if mask(text) != text else "config"
                obj = file_object_name(project, path, text)
                objects[obj] = (kind, path, text)
                dest = f"{target.rstrip('/')}/{rel}" if rel else target
                refs["Secrets" if kind == "secret" else "Configs"].append(
                    {"File": {"Name": dest, "UID": "0", "GID": "0", "Mode": 0o444},
                     ("SecretName" if kind == "secret" else "ConfigName"): obj})
        elif source.startswith("/"):
            mounts.append({"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only})
        else:
            vol_spec = vol_defs.get(source) or {}
            mount = {"Type": "volume", "Source": volume_name(project, source, vol_spec), "Target": target,
                     "ReadOnly": read_only}
            options = _volume_mount_options(project, vol_spec)
            if options:
                mount["VolumeOptions"] = options
            mounts.append(mount)
    top_refs, top_objects = top_level_refs(project, doc, files, spec)
    objects.update(top_objects)
    for key, items in top_refs.items():
        refs[key] += items
    if mounts:
        container["Mounts"] = mounts
    for key, items in refs.items():
        if items:
            container[key] = sorted(items, key=lambda r: r["File"]["Name"])
    task = {"ContainerSpec": container, "RestartPolicy": _restart_policy(spec)}
    if deploy.get("resources"):
        task["Resources"] = _resources(deploy["resources"])
    placement = deploy.get("placement") or {}
    if placement:
        task["Placement"] = {"Constraints": list(placement.get("constraints") or []),
                             "Preferences": [{"Spread": {"SpreadDescriptor": p["spread"]}}
                                             for p in placement.get("preferences") or []]}
    if spec.get("logging"):
        task["LogDriver"] = {"Name": spec["logging"].get("driver", "json-file"),
                             "Options": spec["logging"].get("options") or {}}
    net_defs = doc.get("networks") or {}
    task["Networks"] = [{"Target": network_name(project, key, net_defs.get(key)), "Aliases": [name]}
                        for key in service_networks(spec)]
    mode = ({"Global": {}} if deploy.get("mode") == "global"
            else {"Replicated": {"Replicas": int(deploy.get("replicas", 1))}})
    labels = {**(deploy.get("labels") or {}), NAMESPACE: project, STACK_IMAGE: image}
    out = {"Name": f"{project}_{name}", "Labels": labels, "TaskTemplate": task, "Mode": mode,
           "UpdateConfig": _update_config(deploy.get("update_config"), "rollback"),
           "RollbackConfig": _update_config(deploy.get("rollback_config"), "pause"),
           "EndpointSpec": {"Mode": deploy.get("endpoint_mode", "vip"), "Ports": _ports(spec)}}
    out["Labels"][SPEC_HASH] = _digest(json.dumps(out, sort_keys=True))
    return out, objects


# --- Plan (pure) ------------------------------------------------------------------------

@dataclass
class SwarmObserved:
    services: dict = field(default_factory=dict)  # {name: {"id", "version", "hash", "replicas"}}
    configs: dict = field(default_factory=dict)  # {name: id}
    secrets: dict = field(default_factory=dict)  # {name: id}
    networks: set = field(default_factory=set)  # every network name on the engine


@dataclass
class ServiceChange:
    kind: str  # create, update, scale, noop, remove
    service: str
    reason: str = ""
    spec: dict = field(default_factory=dict, repr=False)

    def __str__(self):
        return f"{self.kind} {self.service}" + (f" ({self.reason})" if self.reason else "")


@dataclass
class SwarmPlan:
    project: str
    networks: list = field(default_factory=list)  # overlay networks to create
    network_specs: dict = field(default_factory=dict, repr=False)  # {name: create_network arguments}
    missing_networks: list = field(default_factory=list)  # external ones that do not exist
    objects: dict = field(default_factory=dict)  # configs/secrets to create: {name: (kind, path, text)}
    services: list = field(default_factory=list)  # [ServiceChange], noops included
    keep_objects: set = field(default_factory=set)  # every config/secret the desired specs use
    rotations: dict = field(default_factory=dict)  # {new object: old one it replaces in a service}

    @property
    def changes(self):
        return [s for s in self.services if s.kind != "noop"]

    @property
    def is_empty(self):
        return not (self.networks or self.objects or self.changes)

    def summary(self):
        parts = ([f"create network {n}" for n in self.networks]
                 + [f"rotate {kind} {self.rotations[name]} → {name}" if name in self.rotations
                    else f"create {kind} {name}" for name, (kind, _p, _t) in sorted(self.objects.items())]
                 + [str(s) for s in self.changes])
        return ", ".join(parts) if parts else "nothing to change"

    def lines(self):
        return self.summary().split(", ")

    def as_dict(self):
        return {"project": self.project, "empty": self.is_empty, "lines": self.lines(), "files": [],
                "networks": self.networks,
                "objects": {n: k for n, (k, _p, _t) in self.objects.items()},
                "rotations": [{"kind": self.objects[new][0], "old": old, "new": new}
                              for new, old in sorted(self.rotations.items())],
                "services": [{"service": s.service, "action": s.kind, "reason": s.reason} for s in self.changes]}


def plan(desired, observed):
    project, doc = desired.project, desired.compose
    p = SwarmPlan(project)
    net_defs = doc.get("networks") or {}
    for key in sorted({k for spec in desired.services.values() for k in service_networks(spec)}):
        name = network_name(project, key, net_defs.get(key))
        if name not in observed.networks:
            spec = net_defs.get(key) or {}
            if spec.get("external"):
                p.missing_networks.append(name)
            else:
                p.networks.append(name)
                p.network_specs[name] = network_create_options(project, spec)
    for name, spec in sorted(desired.services.items()):
        svc, objects = convert_service(project, doc, desired.files, desired.mask, name, spec)
        p.keep_objects.update(objects)
        for obj, value in objects.items():
            if obj not in (observed.secrets if value[0] == "secret" else observed.configs):
                size = len(payload(value[2]))
                if size > MAX_OBJECT_BYTES:
                    raise EngineError(f"{value[1]}: {size} bytes, over Swarm's limit of {MAX_OBJECT_BYTES} bytes "
                                      f"for a {value[0]}.", permanent=True)
                p.objects[obj] = value
        have = observed.services.get(svc["Name"])
        want_replicas = svc["Mode"].get("Replicated", {}).get("Replicas")
        if have is None:
            p.services.append(ServiceChange("create", name, "new", svc))
        elif have["hash"] != svc["Labels"][SPEC_HASH]:
            p.rotations.update(_rotations(have.get("spec"), svc, p.objects))
            p.services.append(ServiceChange("update", name, _what_changed(have.get("spec"), svc), svc))
        elif want_replicas is not None and have["replicas"] != want_replicas:
            p.services.append(ServiceChange("scale", name, f"replicas {have['replicas']} → {want_replicas}", svc))
        else:
            p.services.append(ServiceChange("noop", name, "", svc))
    wanted = {f"{project}_{n}" for n in desired.services}
    for full in sorted(set(observed.services) - wanted):
        p.services.append(ServiceChange("remove", full[len(project) + 1:], "no longer in the stack"))
    return p


def _rotations(old, new, created):
    """{new object: old object} for each file target of a service whose config or
    secret is replaced by one created now (a changed file)."""
    def refs(spec):
        container = (spec or {}).get("TaskTemplate", {}).get("ContainerSpec", {})
        return {(key, r["File"]["Name"]): r.get("ConfigName") or r.get("SecretName")
                for key in ("Configs", "Secrets") for r in container.get(key) or []}

    before = refs(old)
    return {name: before[target] for target, name in refs(new).items()
            if name in created and before.get(target) not in (None, name)}


def _what_changed(old, new):
    if not old:
        return "spec changed"
    old_c, new_c = old.get("TaskTemplate", {}).get("ContainerSpec", {}), new["TaskTemplate"]["ContainerSpec"]
    ours = ("Image", "Command", "Args", "Env", "User", "Healthcheck", "Hosts", "Mounts", "Configs", "Secrets")
    changed = [k for k in ours if _comparable(k, old_c.get(k)) != _comparable(k, new_c.get(k))]
    for key in ("Mode", "UpdateConfig", "EndpointSpec"):
        if old.get(key) != new.get(key):
            changed.append(key)
    return ", ".join(changed) or "settings changed"


def _comparable(key, value):
    if key in ("Configs", "Secrets"):  # ids are filled in on the engine
        return sorted((r["File"]["Name"], r.get("ConfigName") or r.get("SecretName")) for r in value or [])
    return value


# --- Apply ------------------------------------------------------------------------------

class SwarmBackend(Logs):
    name = "swarm"

    @translated("observing the swarm")
    def observe(self, desired):
        engine, label = api(), f"{NAMESPACE}={desired.project}"
        services = {}
        for s in engine.services(filters={"label": label}):
            spec = s["Spec"]
            services[spec["Name"]] = {"id": s["ID"], "version": s["Version"]["Index"], "spec": spec,
                                      "hash": spec.get("Labels", {}).get(SPEC_HASH, ""),
                                      "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas")}
        configs = {c["Spec"]["Name"]: c["ID"] for c in engine.configs(filters={"label": label})}
        secrets = {c["Spec"]["Name"]: c["ID"] for c in engine.secrets(filters={"label": label})}
        networks = {n["Name"] for n in engine.networks()}
        return SwarmObserved(services, configs, secrets, networks)

    def plan(self, desired, observed):
        return plan(desired, observed)

    def apply(self, the_plan, report):
        engine, project = api(), the_plan.project
        report("Plan: " + the_plan.summary())
        if the_plan.missing_networks:
            raise EngineError(f"External network(s) {', '.join(the_plan.missing_networks)} do not exist: "
                              "create them first.", permanent=True)
        if not translated("swarm")(engine.info)().get("Swarm", {}).get("ControlAvailable"):
            raise EngineError("This engine is not a Swarm manager (run `docker swarm init`, or point the engine "
                              "row at a manager).", permanent=True)
        call = translated("swarm")
        for name in the_plan.networks:
            options = the_plan.network_specs.get(name) or network_create_options(project, {})
            call(engine.create_network)(name, **options)
            report(f"Created {options['driver']} network {name}")
        for obj, (kind, path, text) in sorted(the_plan.objects.items()):
            create = engine.create_secret if kind == "secret" else engine.create_config
            call(create)(obj, payload(text), labels={NAMESPACE: project, FILE_PATH: path})
            replaces = f", replacing {the_plan.rotations[obj]}" if obj in the_plan.rotations else ""
            report(f"Created {kind} {obj} for {path}{replaces}")
        label = f"{NAMESPACE}={project}"
        ids = {**{c["Spec"]["Name"]: c["ID"] for c in call(engine.configs)(filters={"label": label})},
               **{c["Spec"]["Name"]: c["ID"] for c in call(engine.secrets)(filters={"label": label})}}
        current = {s["Spec"]["Name"]: s for s in call(engine.services)(filters={"label": label})}
        watch = []
        for change in the_plan.services:
            full = f"{project}_{change.service}"
            if change.kind == "remove":
                call(engine.remove_service)(current[full]["ID"])
                report(f"Removed service {full}")
                continue
            if change.kind == "noop":
                continue
            spec = _with_ids(change.spec, ids)
            kwargs = dict(task_template=spec["TaskTemplate"], name=full, labels=spec["Labels"], mode=spec["Mode"],
                          update_config=spec["UpdateConfig"], rollback_config=spec["RollbackConfig"],
                          endpoint_spec=spec["EndpointSpec"])
            if change.kind == "create":
                sid = call(engine.create_service)(**kwargs)["ID"]
                report(f"Created service {full}")
                watch.append((full, sid, None))
            else:
                have = current[full]
                call(engine.update_service)(have["ID"], have["Version"]["Index"], fetch_current_spec=False, **kwargs)
                report(f"Updating service {full} ({change.reason})")
                watch.append((full, have["ID"], have["Version"]["Index"]))
        failures = [err for full, sid, before in watch for err in [self._converge(engine, full, sid, report)] if err]
        self._remove_unused(engine, project, the_plan.keep_objects, report)
        if failures:
            raise EngineError("; ".join(failures), permanent=True)
        return the_plan

    def _converge(self, engine, full, sid, report):
        """Follow a service's tasks until its update completes (or rolls back) and
        its tasks run; reports each task's state as it changes. An error text, or None."""
        seen, deadline = {}, time.monotonic() + CONVERGE_TIMEOUT
        while time.monotonic() < deadline:
            svc = translated("swarm")(engine.inspect_service)(sid)
            status = svc.get("UpdateStatus") or {}
            tasks = translated("swarm")(engine.tasks)(filters={"service": sid})
            for t in sorted(tasks, key=lambda t: (t.get("Slot", 0), t["CreatedAt"])):
                state = t["Status"]["State"]
                if seen.get(t["ID"]) != state:
                    seen[t["ID"]] = state
                    node = _node_name(engine, t.get("NodeID"))
                    err = f": {t['Status']['Err']}" if t["Status"].get("Err") else ""
                    report(f"{full}.{t.get('Slot', '')} task {t['ID'][:10]} on {node}: {state}{err}", "progress")
            state = status.get("State", "")
            if state in ("rollback_completed", "rollback_paused", "paused"):
                message = status.get("Message", "")
                if state == "rollback_completed":
                    report(f"Update of {full} failed and was rolled back to its previous spec: {message}", "error")
                    return f"update of {full} failed and was rolled back ({message})"
                return f"update of {full} is {state}: {message}"
            if state in ("updating", "rollback_started"):
                time.sleep(POLL)
                continue
            want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
            running = [t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
            if want is not None and len(running) >= want and (want == 0 or state in ("", "completed")):
                return None
            failed = [t for t in tasks if t["DesiredState"] != "running" and t["Status"]["State"] in FAILED_STATES]
            if failed and not running and svc["Spec"]["TaskTemplate"].get("RestartPolicy", {}).get("Condition") == "none":
                return f"{full}: its task {failed[0]['Status']['State']} ({failed[0]['Status'].get('Err', '')})"
            time.sleep(POLL)
        return f"{full} did not converge within {CONVERGE_TIMEOUT}s"

    def _remove_unused(self, engine, project, keep, report):
        label = f"{NAMESPACE}={project}"
        for kind, listing, remove in (("config", engine.configs, engine.remove_config),
                                      ("secret", engine.secrets, engine.remove_secret)):
            for obj in translated("swarm")(listing)(filters={"label": label}):
                name = obj["Spec"]["Name"]
                if name in keep:
                    continue
                try:
                    translated("")(remove)(obj["ID"])
                    report(f"Removed unused {kind} {name}")
                except EngineError as exc:  # still used, e.g. by a spec rolled back to
                    report(f"Kept {kind} {name}: {exc}")

    # --- operations on what runs -------------------------------------------------------
    @translated("stop")
    def stop(self, project, report):
        """Stop keeps the services (their spec) and scales them to zero tasks."""
        engine = api()
        for s in engine.services(filters={"label": f"{NAMESPACE}={project}"}):
            spec = s["Spec"]
            if "Replicated" not in spec.get("Mode", {}):
                report(f"{spec['Name']} is a global service: it keeps running (down removes it)", "error")
                continue
            engine.update_service(s["ID"], s["Version"]["Index"], task_template=spec["TaskTemplate"],
                                  name=spec["Name"], labels=spec.get("Labels"), mode={"Replicated": {"Replicas": 0}},
                                  update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
                                  endpoint_spec=spec.get("EndpointSpec"), fetch_current_spec=False)
            report(f"Scaled {spec['Name']} to 0 tasks")

    @translated("down")
    def down(self, project, report, volumes=False):
        """As `docker stack rm`: services, then configs, secrets and networks."""
        engine, label = api(), f"{NAMESPACE}={project}"
        for s in engine.services(filters={"label": label}):
            engine.remove_service(s["ID"])
            report(f"Removed service {s['Spec']['Name']}")
        deadline = time.monotonic() + 60
        while engine.containers(all=True, filters={"label": label}) and time.monotonic() < deadline:
            time.sleep(POLL)  # tasks' containers go away before their networks can
        for c in engine.configs(filters={"label": label}):
            engine.remove_config(c["ID"])
            report(f"Removed config {c['Spec']['Name']}")
        for c in engine.secrets(filters={"label": label}):
            engine.remove_secret(c["ID"])
            report(f"Removed secret {c['Spec']['Name']}")
        remove_networks_and_volumes(engine, label, volumes, report)

    @translated("restart")
    def restart_service(self, project, service, report):
        engine = api()
        s = _service(engine, project, service)
        spec = s["Spec"]
        task = dict(spec["TaskTemplate"], ForceUpdate=(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1)
        engine.update_service(s["ID"], s["Version"]["Index"], task_template=task, name=spec["Name"],
                              labels=spec.get("Labels"), mode=spec.get("Mode"), update_config=spec.get("UpdateConfig"),
                              rollback_config=spec.get("RollbackConfig"), endpoint_spec=spec.get("EndpointSpec"),
                              fetch_current_spec=False)
        report(f"Restarting the tasks of {spec['Name']}")
        err = self._converge(engine, spec["Name"], s["ID"], report)
        if err:
            raise EngineError(err)

    @translated("status")
    def status(self, project):
        """Current tasks as rows (the shape stack_status gives), with the node each
        runs on, its desired state and an error: its own, or that of the last task
        of its slot that failed (why a pending task is being retried). `container`:
        the task's container when it runs on the node this engine is."""
        engine = api()
        nodes = {n["ID"]: n["Description"]["Hostname"] for n in engine.nodes()}
        # This engine answers for the containers of its own node's tasks. Asked each
        # time: a node that leaves a Swarm and joins another has a new id.
        here = engine.info()["Swarm"].get("NodeID", "")
        rows = []
        for s in engine.services(filters={"label": f"{NAMESPACE}={project}"}):
            name = s["Spec"]["Name"][len(project) + 1:]
            ports = ", ".join(f"{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']} ({p.get('PublishMode')})"
                              for p in s.get("Endpoint", {}).get("Ports") or [])
            tasks = sorted(engine.tasks(filters={"service": s["ID"]}), key=lambda t: t["CreatedAt"], reverse=True)
            for t in tasks:
                if t["DesiredState"] != "running":
                    continue
                st, slot = t["Status"], t.get("Slot") or t.get("NodeID", "")
                error = st.get("Err") or next(
                    (o["Status"].get("Err", "") for o in tasks if (o.get("Slot") or o.get("NodeID", "")) == slot
                     and o["DesiredState"] != "running" and o["Status"].get("Err")), "")
                rows.append(status_row(
                    id=t["ID"][:12], name=f"{s['Spec']['Name']}.{slot if t.get('Slot') else str(slot)[:12]}",
                    service=name, number=str(t.get("Slot", "")), state=st["State"], status=st.get("Message", ""),
                    ports=ports, image=s["Spec"]["Labels"].get(STACK_IMAGE, ""),
                    node=nodes.get(t.get("NodeID"), (t.get("NodeID") or "(unscheduled)")[:12]),
                    desired=t["DesiredState"], error=error,
                    container=(st.get("ContainerStatus") or {}).get("ContainerID", "")[:12]
                    if t.get("NodeID") == here else ""))
        return sorted(rows, key=lambda r: r["name"])

    @translated("logs")
    def log_stream(self, project, service, tail=100, follow=False):
        """The service's log stream, every task's lines (byte chunks) with the
        details that name their task; with follow, open until the service is removed."""
        from .connect import streaming

        engine = streaming().api if follow else api()
        return engine.service_logs(_service(engine, project, service)["ID"], details=True, stdout=True, stderr=True,
                                   tail=tail, timestamps=True, follow=follow, is_tty=False)

    def follow_logs(self, project, service, tail=100, follow=False):
        """Lines as `docker service logs` prints them: each names its task
        (SERVICE.SLOT@NODE), since a service's tasks write into one stream."""
        names = {}

        def task_name(task_id):
            if task_id not in names:  # a task not seen yet: ask once more for them all
                names.update(translated("logs")(_task_names)(api(), project, service))
                names.setdefault(task_id, task_id[:12])
            return names[task_id]

        for line in super().follow_logs(project, service, tail=tail, follow=follow):
            stamp, details, message = (line.split(" ", 2) + ["", ""])[:3]
            fields = dict(kv.split("=", 1) for kv in details.split(",") if "=" in kv)
            task = fields.get("com.docker.swarm.task.id")
            yield f"{stamp} {task_name(task)} | {message}" if task else line


def _service(engine, project, service):
    """A stack's Swarm service (the name filter matches prefixes: the exact one)."""
    full = f"{project}_{service}"
    found = [s for s in engine.services(filters={"name": full, "label": f"{NAMESPACE}={project}"})
             if s["Spec"]["Name"] == full]
    if not found:
        raise EngineError(f"No Swarm service {full}: deploy the stack first.", permanent=True)
    return found[0]


def _task_names(engine, project, service):
    """{task id: "SERVICE.SLOT@NODE"} of a service's tasks, as `docker service logs` names them."""
    s = _service(engine, project, service)
    nodes = {n["ID"]: n["Description"]["Hostname"] for n in engine.nodes()}
    return {t["ID"]: f"{s['Spec']['Name']}.{t.get('Slot') or t.get('NodeID', '')[:12]}@"
                     f"{nodes.get(t.get('NodeID'), '?')}"
            for t in engine.tasks(filters={"service": s["ID"]})}


def _with_ids(spec, ids):
    """The spec with the ids of the configs and secrets it names (known once created)."""
    spec = json.loads(json.dumps(spec))
    container = spec["TaskTemplate"]["ContainerSpec"]
    for key, name_key, id_key in (("Configs", "ConfigName", "ConfigID"), ("Secrets", "SecretName", "SecretID")):
        for ref in container.get(key, []):
            ref[id_key] = ids[ref[name_key]]
    return spec


_nodes = {}


def _node_name(engine, node_id):
    if not node_id:
        return "(unscheduled)"
    if node_id not in _nodes:
        try:
            _nodes[node_id] = engine.inspect_node(node_id)["Description"]["Hostname"]
        except Exception:  # noqa: BLE001 — a node that left: its id will do
            return node_id[:12]
    return _nodes[node_id]
