"""A Compose service's container as docker-py creates it: binds, file mounts,
ports, healthcheck, environment, restart policy, the keys kept in Service.extra,
and the Compose labels (container_config). Pure: no Docker calls here."""
import json
import os
import re
import shlex

from stacks.engine import labels as L
from stacks.lib.composefile import (
    container_name,
    file_refs,
    network_name,
    parse_port,
    replica_host_port,
    service_networks,
    unescape_dollars,
    volume_name,
)

# --- Compose → docker-py --------------------------------------------------------------

def duration_ns(text):
    if isinstance(text, (int, float)):
        return int(text * 1e9)
    units = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
    return int(sum(float(v) * units[u] for v, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)))


def binds(project, directory, doc, spec):
    out = []
    vol_defs = doc.get("volumes") or {}
    for vol in spec.get("volumes") or []:
        parts = vol.split(":")
        if len(parts) == 1:
            continue  # anonymous volume
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        if source.startswith("./") or source == ".":
            source = str((directory / source).resolve())
        elif not source.startswith("/"):
            source = volume_name(project, source, vol_defs.get(source))
        out.append(f"{source}:{target}:{mode}")
    return out + file_mounts(directory, doc, spec)


def file_mounts(directory, doc, spec):
    """A service's configs and secrets as read-only bind mounts of their files,
    as Compose mounts them on one engine (composefile.file_refs)."""
    # Import refuses other kinds than files; validation names an unknown source.
    return [f"{(directory / file).resolve()}:{target}:ro" for _key, _entry, target, file in file_refs(doc, spec)
            if file]


def ports(spec, number):
    """(exposed ports, port bindings) of replica `number`."""
    exposed, bindings = [], {}
    for p in spec.get("ports") or []:
        ip, host, container, proto = parse_port(p)
        exposed.append((int(container), proto) if proto != "tcp" else int(container))
        port = replica_host_port(host, number)
        binding = (ip, port) if ip and port else (ip, None) if ip else port
        bindings.setdefault(f"{container}/{proto}", []).append(binding)
    return exposed, bindings


def healthcheck(spec):
    hc = spec.get("healthcheck")
    if not hc or hc.get("disable"):
        return None
    test = hc.get("test")
    out = {"test": ["CMD-SHELL", test] if isinstance(test, str) else test}
    for key in ("interval", "timeout", "start_period"):
        if key in hc:
            out[key] = duration_ns(hc[key])
    if "retries" in hc:
        out["retries"] = int(hc["retries"])
    return out


# --- Keys kept in Service.extra (stacks.lib.compose_keys) → docker-py ------------------------

CREATE_KEYS = {"hostname": "hostname", "domainname": "domainname", "working_dir": "working_dir",
               "stop_signal": "stop_signal", "tty": "tty", "stdin_open": "stdin_open",
               "mac_address": "mac_address", "runtime": "runtime"}
HOST_KEYS = {"privileged": "privileged", "cap_add": "cap_add", "cap_drop": "cap_drop", "devices": "devices",
             "pid": "pid_mode", "ipc": "ipc_mode", "network_mode": "network_mode", "userns_mode": "userns_mode",
             "uts": "uts_mode", "shm_size": "shm_size", "security_opt": "security_opt", "read_only": "read_only",
             "init": "init", "dns_search": "dns_search", "dns_opt": "dns_opt", "group_add": "group_add",
             "mem_limit": "mem_limit", "memswap_limit": "memswap_limit", "mem_reservation": "mem_reservation",
             "cpu_shares": "cpu_shares", "cpuset": "cpuset_cpus", "pids_limit": "pids_limit",
             "oom_score_adj": "oom_score_adj", "oom_kill_disable": "oom_kill_disable",
             "cgroup_parent": "cgroup_parent", "storage_opt": "storage_opt", "isolation": "isolation"}
# Keys the translation below handles itself, or that only Compose (not a container) reads.
HANDLED = {"image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
           "networks", "depends_on", "healthcheck", "logging", "deploy", "scale", "restart", "labels",
           "extra_hosts", "user", "ulimits", "sysctls", "tmpfs", "dns", "stop_grace_period", "cpus", "configs",
           "secrets"}


def _as_list(value):
    return [value] if isinstance(value, (str, int)) else list(value or [])


def _command(value):
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value) if value else [""]
    return [str(v) for v in value] or [""]  # an empty list clears the image's


def _mapping(value, sep="="):
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out = {}
    for item in value or []:
        key, has, val = str(item).partition(sep)
        out[key] = val if has else None
    return out


def environment(spec, directory):
    """env_file entries, then `environment` over them; a name without a value
    takes the worker's own, as Compose takes the shell's (or is left out)."""
    env = {}
    for entry in _as_list(spec.get("env_file")):
        path = entry if isinstance(entry, str) else entry.get("path", "")
        try:
            text = (directory / path).read_text()
        except OSError as exc:
            raise ValueError(f"env_file {path}: {exc.strerror}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, has, val = line.partition("=")
                env[key.strip()] = val if has else None
    env.update(_mapping(spec.get("environment")))
    out = {}
    for key, val in env.items():
        if val is None:
            val = os.environ.get(key)
            if val is None:
                continue
        out[key] = str(val).lower() if isinstance(val, bool) else str(val)
    return out or None


def restart_policy(value):
    if not value or value == "no":
        return None
    name, _, count = str(value).partition(":")
    policy = {"Name": name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def _ulimits(value):
    out = []
    for name, limit in (value or {}).items():
        soft, hard = (limit, limit) if isinstance(limit, int) else (limit.get("soft"), limit.get("hard"))
        out.append({"Name": name, "Soft": int(soft), "Hard": int(hard)})
    return out or None


def _tmpfs(value):
    out = {}
    for item in _as_list(value):
        path, _, opts = str(item).partition(":")
        out[path] = opts
    return out or None


def _seconds(value):
    return int(duration_ns(value) / 1e9) if value is not None else None


def extra_settings(spec):
    """({create kwargs}, {host_config kwargs}, [keys not applied]) for what the
    rows do not model; a container without them would not be the user's service."""
    create = {CREATE_KEYS[k]: spec[k] for k in CREATE_KEYS if k in spec}
    host = {HOST_KEYS[k]: spec[k] for k in HOST_KEYS if k in spec}
    if "stop_grace_period" in spec:
        create["stop_timeout"] = _seconds(spec["stop_grace_period"])
    if "ulimits" in spec:
        host["ulimits"] = _ulimits(spec["ulimits"])
    if "sysctls" in spec:
        host["sysctls"] = {k: str(v) for k, v in _mapping(spec["sysctls"]).items()}
    if "tmpfs" in spec:
        host["tmpfs"] = _tmpfs(spec["tmpfs"])
    if "dns" in spec:
        host["dns"] = _as_list(spec["dns"])
    if "cpus" in spec:
        host["nano_cpus"] = int(float(spec["cpus"]) * 1e9)
    resources = (spec.get("deploy") or {}).get("resources") or {}
    limits, reservations = resources.get("limits") or {}, resources.get("reservations") or {}
    if "memory" in limits:
        host["mem_limit"] = limits["memory"]
    if "cpus" in limits:
        host["nano_cpus"] = int(float(limits["cpus"]) * 1e9)
    if "pids" in limits:
        host["pids_limit"] = int(limits["pids"])
    if "memory" in reservations:
        host["mem_reservation"] = reservations["memory"]
    ignored = sorted(k for k in spec if k not in HANDLED and k not in CREATE_KEYS and k not in HOST_KEYS
                     and not k.startswith("x-"))
    return create, host, ignored


def container_config(project, directory, doc, name, number, desired_hash, applied):
    """Everything docker-py's create_container needs for replica `number` of a
    service: {"create": kwargs (host_config and networking as plain data),
    "extra_networks": [(network, aliases)]}."""
    spec = unescape_dollars(doc["services"][name])
    exposed, bindings = ports(spec, number)
    exposed += [int(str(p).split("/")[0]) for p in _as_list(spec.get("expose"))]
    logging = spec.get("logging")
    if logging and not logging.get("driver"):
        logging = {"driver": "json-file", **logging}
    create_extra, host_extra, ignored = extra_settings(spec)
    nets = [] if spec.get("network_mode") else service_networks(spec)
    defs = doc.get("networks") or {}
    labels = {**_mapping(spec.get("labels")),
              L.PROJECT: project, L.SERVICE: name, L.NUMBER: str(number), L.ONEOFF: "False",
              L.CONFIG_HASH: desired_hash, L.VERSION: L.COMPOSE_VERSION,
              L.WORKING_DIR: str(directory), L.CONFIG_FILES: "docker-compose.yml",
              L.APPLIED: json.dumps(applied, sort_keys=True, separators=(",", ":"))}
    return {
        "name": container_name(project, name, number),
        "image": spec.get("image") or f"{project}_{name}",
        "create": dict(
            command=_command(spec.get("command")), entrypoint=_command(spec.get("entrypoint")),
            environment=environment(spec, directory), labels=labels, ports=exposed or None,
            healthcheck=healthcheck(spec), user=str(spec["user"]) if spec.get("user") else None, detach=True,
            **create_extra,
        ),
        "host_config": dict(
            binds=binds(project, directory, doc, spec), port_bindings=bindings or None,
            restart_policy=restart_policy(spec.get("restart")),
            log_config={"Type": logging["driver"], "Config": {k: str(v) for k, v in
                                                               _mapping(logging.get("options")).items()}}
            if logging else None,
            extra_hosts=_as_list(spec.get("extra_hosts")) if isinstance(spec.get("extra_hosts"), list)
            else [f"{h}:{ip}" for h, ip in (spec.get("extra_hosts") or {}).items()] or None,
            **host_extra,
        ),
        # The first network at create; the others connected before start, with the
        # service name as alias, as Compose does. None with network_mode.
        "primary_network": network_name(project, nets[0], defs.get(nets[0])) if nets else None,
        "extra_networks": [network_name(project, key, defs.get(key)) for key in nets[1:]],
        "aliases": [name],
        "not_applied": ignored,
    }
