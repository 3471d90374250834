"""One service, as Compose 1.x's service.py: its config hash, the files it mounts,
the Compose → docker-py translation of its container, and its convergence
(create, recreate, start, nothing, remove). Pure: no Docker calls here."""
import hashlib
import json
import re
from dataclasses import dataclass

from stacks.composefile import (container_name, network_name, parse_port, replica_host_port, replicas,
                                service_networks, volume_name)
from stacks.render.compose import unescape_dollars

from . import labels as L

RELOADABLE_ROLES = {"prometheus", "alertmanager"}


@dataclass
class Existing:
    """A container of the project, as the engine lists it."""
    id: str
    name: str
    service: str
    number: int
    config_hash: str
    running: bool
    applied: dict | None = None  # per-setting digests of the config it was created from


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- Files ----------------------------------------------------------------------

def mounted_files(spec, files):
    """Bundle paths a service bind-mounts from the stack's directory, sorted."""
    sources = []
    for vol in spec.get("volumes") or []:
        source = vol.split(":")[0]
        if source.startswith("./"):
            sources.append(source[2:].rstrip("/"))
    return [p for p in sorted(files) if any(p == s or p.startswith(s + "/") for s in sources)]


def files_digest(spec, files):
    """Digest of the bundle files a service bind-mounts ("" when it mounts none)."""
    paths = mounted_files(spec, files)
    has_sources = any(v.split(":")[0].startswith("./") for v in spec.get("volumes") or [])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest() if has_sources else ""


def file_digests(spec, files):
    """{path: digest} of the files a service mounts: what a reload is decided on."""
    return {path: sha(files[path]) for path in mounted_files(spec, files)}


def reloadable(role):
    return role in RELOADABLE_ROLES


# --- Hash -------------------------------------------------------------------------

def config_hash(spec, image_id, files_digest=""):
    """Compose 1.x's way: sha256 of the normalized service config, image id included
    (a newer image means a recreate); for services whose mounted files cannot be
    reloaded, the files' digest too (a changed fluent.conf means a recreate)."""
    payload = json.dumps({"spec": spec, "image_id": image_id, "files": files_digest},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def hash_inputs(spec, role, files):
    """What goes into the hash besides the image: the mounted files' digest, unless
    the program reloads them itself."""
    return "" if reloadable(role) else files_digest(spec, files)


def applied_record(spec, image_id, role, files):
    """Per-setting digests kept on the container (a label), so that the next plan
    can say which setting changed. Digests only: no value, no secret."""
    record = {key: _digest(value) for key, value in spec.items()}
    record["(image)"] = image_id[:19]
    if not reloadable(role):
        record.update({f"./{p}": d for p, d in file_digests(spec, files).items()})
    return record


def what_changed(old, new):
    """The settings that differ between two applied records, for the plan's reason."""
    if not old:
        return ["configuration"]
    keys = sorted(set(old) | set(new))
    changed = [k for k in keys if old.get(k) != new.get(k)]
    names = []
    for k in changed:
        if k == "(image)":
            names.append("image id")
        elif k.startswith("./"):
            names.append(f"file {k[2:]}")
        else:
            names.append(k)
    return names or ["configuration"]


# --- Convergence ------------------------------------------------------------------

@dataclass
class Action:
    kind: str  # create, recreate, start, noop, remove
    service: str
    number: int
    container: Existing | None = None
    reason: str = ""

    def __str__(self):
        return f"{self.kind} {self.service}#{self.number}"


def converge(name, spec, desired_hash, containers, reason_for=lambda c: ""):
    """Actions that bring one service's containers to `replicas` copies of the
    desired config: Compose's convergence plan."""
    actions = []
    have = {c.number: c for c in containers}
    count = replicas(spec)
    for number in range(1, count + 1):
        c = have.get(number)
        if c is None:
            actions.append(Action("create", name, number))
        elif c.config_hash != desired_hash:
            actions.append(Action("recreate", name, number, c, reason_for(c)))
        elif not c.running:
            actions.append(Action("start", name, number, c, "stopped"))
        else:
            actions.append(Action("noop", name, number, c))
    for number in sorted((n for n in have if n > count), reverse=True):
        actions.append(Action("remove", name, number, have[number], f"replicas: {count}"))
    return actions


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
    return out


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
    out = {"test": hc.get("test")}
    for key in ("interval", "timeout", "start_period"):
        if key in hc:
            out[key] = duration_ns(hc[key])
    if "retries" in hc:
        out["retries"] = int(hc["retries"])
    return out


def container_config(project, directory, doc, name, number, desired_hash, applied):
    """Everything docker-py's create_container needs for replica `number` of a
    service: {"create": kwargs (host_config and networking as plain data),
    "extra_networks": [(network, aliases)]}."""
    spec = unescape_dollars(doc["services"][name])
    exposed, bindings = ports(spec, number)
    logging = spec.get("logging")
    restart = spec.get("restart")
    nets = service_networks(spec)
    defs = doc.get("networks") or {}
    labels = {**(spec.get("labels") or {}),
              L.PROJECT: project, L.SERVICE: name, L.NUMBER: str(number), L.ONEOFF: "False",
              L.CONFIG_HASH: desired_hash, L.VERSION: L.COMPOSE_VERSION,
              L.WORKING_DIR: str(directory), L.CONFIG_FILES: "docker-compose.yml",
              L.APPLIED: json.dumps(applied, sort_keys=True, separators=(",", ":"))}
    return {
        "name": container_name(project, name, number),
        "image": spec.get("image") or f"{project}_{name}",
        "create": dict(
            command=spec.get("command") or None, entrypoint=spec.get("entrypoint") or None,
            environment=spec.get("environment") or None, labels=labels, ports=exposed or None,
            healthcheck=healthcheck(spec), user=spec.get("user") or None, detach=True,
        ),
        "host_config": dict(
            binds=binds(project, directory, doc, spec), port_bindings=bindings or None,
            restart_policy={"Name": restart} if restart and restart != "no" else None,
            log_config={"Type": logging["driver"], "Config": logging.get("options") or {}} if logging else None,
            extra_hosts=spec.get("extra_hosts") or None,
        ),
        # The first network at create; the others connected before start, with the
        # service name as alias, as Compose does.
        "primary_network": network_name(project, nets[0], defs.get(nets[0])),
        "extra_networks": [network_name(project, key, defs.get(key)) for key in nets[1:]],
        "aliases": [name],
    }
