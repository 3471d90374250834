"""Compose → Swarm, the way `docker stack deploy` converts a stack (pure): a
service's spec (convert_service) with its networks, mounts, deploy keys and the
namespace label; files as configs and secrets named by content hash; overlay
network options. The plan is swarm_plan.py's, the backend swarm.py's."""
import hashlib
import json

from django.conf import settings

from stacks.engine.client import EngineError
from stacks.engine.container import duration_ns
from stacks.engine.project import network_options, volume_options
from stacks.lib.composefile import file_refs, network_name, parse_port, project_path, service_networks, volume_name

NAMESPACE = "com.docker.stack.namespace"  # what `docker stack ls/services/ps/rm` look for
STACK_IMAGE = "com.docker.stack.image"
SPEC_HASH = "io.panel.spec-hash"
FILE_PATH = "io.panel.file"
MAX_OBJECT_BYTES = 500 * 1024  # a Swarm config or secret


def spec_image(spec):
    """The image a Swarm service spec runs, as Swarm keeps it (resolved to
    repo:tag@digest when a registry answered)."""
    return ((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")


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
    for key, entry, target, file in file_refs(doc, spec):
        kind, source = key[:-1], entry["source"]
        path = project_path(file)
        if path not in files:
            raise EngineError(f"{kind} {source}: the stack has no file {path or '(none given)'} to make a "
                              f"Swarm {kind} of.", permanent=True)
        obj = object_name(project, source, files[path])
        objects[obj] = (kind, path, files[path])
        refs[key.capitalize()].append(
            {"File": {"Name": target, "UID": str(entry.get("uid", "0")), "GID": str(entry.get("gid", "0")),
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
