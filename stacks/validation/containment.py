"""Default deny: what a stack may use without an admin's consent is what stays
inside it. Everything else is a host option, named by its key path and by its
exact text (what an admin approves, service by service: stacks.models.HostConsent).

One checker for every path a definition comes in by (the import page, the admin,
the command line, adoption) and for the deploy itself, the last line of defence.
It reads the Compose document the rows render (secrets left as ${secret:…}), so
the words it uses are the ones the user wrote."""
import hashlib
import json
from dataclasses import dataclass

from stacks.lib.composefile import is_bind_source, parse_volume, project_path
from stacks.lib.safe_paths import is_inside
from stacks.render import compose
from stacks.validation.problems import Problem

# Service keys that keep a container inside its stack. Some are looked at further
# below (volumes, env_file, configs, secrets, labels, security_opt, the namespaces).
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "networks", "depends_on", "healthcheck", "logging", "deploy", "scale", "restart", "labels", "extra_hosts",
    "user", "working_dir", "hostname", "domainname", "stop_signal", "stop_grace_period", "tty", "stdin_open",
    "init", "read_only", "tmpfs", "shm_size", "ulimits", "mem_limit", "mem_reservation", "memswap_limit",
    "mem_swappiness", "cpus", "cpu_count", "cpu_percent", "cpu_shares", "cpu_quota", "cpu_period", "cpuset",
    "pids_limit", "configs", "secrets", "profiles", "platform", "pull_policy", "dns", "dns_search", "dns_opt",
    "mac_address", "links", "cap_drop", "group_add", "security_opt", "network_mode", "pid", "ipc",
    "volumes_from", "privileged", "container_name", "annotations", "attach", "cap_add", "devices",
    "cgroup_parent", "sysctls",  # Docker lets a container set only the sysctls of its own namespaces
}
TOP_LEVEL_KEYS = {"version", "name", "services", "networks", "volumes", "configs", "secrets"}
NETWORK_KEYS = {"name", "external", "driver", "driver_opts", "labels", "internal", "attachable", "enable_ipv6",
                "ipam"}
NETWORK_DRIVERS = {"", "bridge", "overlay"}
VOLUME_KEYS = {"name", "external", "driver", "driver_opts", "labels"}
FILE_KEYS = {"file", "content", "name", "labels", "template_driver"}
COMPOSE_LABELS = ("com.docker.compose.", "com.docker.stack.")
CONFINING_SECURITY_OPTS = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}

WHY = {  # what each kind of option does, in the user's words
    "key": "{} is not among the options that keep a container inside its stack",
    "cap_add": "adding capabilities ({}) reaches into the Docker host",
    "privileged": "a privileged container has the Docker host's devices and kernel",
    "namespace": "sharing the {} namespace of {} reaches outside the stack",
    "security_opt": "{} lifts the container's confinement",
    "devices": "a host device ({}) reaches into the Docker host",
    "cgroup_parent": "cgroup_parent {} places the container in a cgroup of the host's",
    "bind": "a bind mount of {} reaches outside the stack's directory",
    "file": "the file {} is outside the stack's directory",
    "volume_opts": "driver_opts {} mount a host path",
    "volume_driver": "volume driver {} is not the local one",
    "external": "{} was made outside this stack",
    "label": "the label {} claims another Compose project's objects",
    "container_name": "container_name {} does not start with the stack's name",
    "name": "the name {} is not this stack's: it names another project's volume",
    "environment": "a secret read from the panel's own environment ({})",
    "network_driver": "network driver {} attaches to the host's interfaces",
    "bridge": "the bridge {} is the host's interface, not the stack's",
    "build_network": "building on the {} network reaches outside the stack",
}


@dataclass(frozen=True)
class HostOption:
    """One option that reaches outside the stack. `service` is '' for a top-level
    key; `option` is its exact text (what consent is given to); `path` where it is."""
    service: str
    option: str
    path: str
    why: str

    def __str__(self):
        return f"{self.service}: {self.option}" if self.service else self.option

    @property
    def key(self):
        """A short stand-in for (service, option), for a form's button."""
        return hashlib.sha256(f"{self.service}\n{self.option}".encode()).hexdigest()[:16]


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types cannot be sorted
        return json.dumps(value, default=str)


def _items(value):
    """A list key as a list, whatever was written (the Compose schema names a wrong type)."""
    if isinstance(value, list):
        return value
    return [] if value is None or value is False else [value]


def _mapping(value):
    return value if isinstance(value, dict) else {}


class _Finder:
    def __init__(self, project, directory=None):
        self.project, self.directory, self.found = project, directory, []

    def add(self, service, key, value, path, why):
        self.found.append(HostOption(service, f"{key}: {_text(value)}", path, why))

    # --- paths ---------------------------------------------------------------------

    def outside(self, source):
        """Why a path on the host is outside the stack's directory, or ''."""
        source = str(source)
        if project_path(source) is None:
            return source
        if self.directory is not None and not is_inside(self.directory, source):
            return f"{source} (a symlink that leads out)"
        return ""

    # --- a service ---------------------------------------------------------------------

    def service(self, name, spec, doc):
        where = f"services.{name}"
        services = set(doc.get("services") or {})
        for key, value in spec.items():
            key = str(key)
            path = f"{where}.{key}"
            if key.startswith("x-"):
                continue
            if key not in SERVICE_KEYS:
                self.add(name, key, value, path, WHY["key"].format(key))
            elif key in ("devices", "cgroup_parent") and value:
                self.add(name, key, value, path, WHY[key].format(_text(value)))
            elif key == "privileged" and value:
                self.add(name, key, value, path, WHY["privileged"])
            elif key == "cap_add" and value:
                caps = sorted(str(c) for c in _items(value))
                self.add(name, key, caps, path, WHY["cap_add"].format(", ".join(caps)))
            elif key in ("network_mode", "pid", "ipc") and not self.own_namespace(key, value, services):
                self.add(name, key, value, path, WHY["namespace"].format(key.replace("_mode", ""), value))
            elif key == "volumes_from":
                for entry in _items(value):
                    source = str(entry).split(":")[0]
                    if source not in services:
                        self.add(name, key, entry, path, WHY["namespace"].format("volumes", entry))
            elif key == "security_opt":
                for opt in _items(value):
                    if str(opt).replace(" ", "") not in CONFINING_SECURITY_OPTS:
                        self.add(name, key, opt, path, WHY["security_opt"].format(opt))
            elif key == "volumes":
                for i, volume in enumerate(_items(value)):
                    self.volume(name, volume, f"{path}[{i}]", doc)
            elif key == "env_file":
                for entry in _items(value):
                    file = str(entry.get("path", "")) if isinstance(entry, dict) else str(entry)
                    if self.outside(file):
                        self.add(name, key, file, path, WHY["file"].format(self.outside(file)))
            elif key == "labels":
                self.labels(name, value, path)
            elif key == "deploy" and isinstance(value, dict) and value.get("labels"):
                self.labels(name, value["labels"], f"{path}.labels")
            elif key == "container_name" and not self.own_name(value):
                self.add(name, key, value, path, WHY["container_name"].format(value))
            elif key == "build":
                self.build(name, value, path)

    def own_namespace(self, key, value, services):
        value = str(value or "")
        if value in {"network_mode": ("", "none", "bridge", "default"), "pid": ("",),
                     "ipc": ("", "none", "private", "shareable")}[key]:
            return True
        kind, _, target = value.partition(":")
        return kind == "service" and target in services

    def own_name(self, value):
        return str(value) == self.project or str(value).startswith((f"{self.project}-", f"{self.project}_"))

    def labels(self, service, value, path):
        keys = value if isinstance(value, dict) else [str(v).partition("=")[0] for v in _items(value)]
        for label in keys:
            if str(label).startswith(COMPOSE_LABELS):
                self.add(service, "labels", label, path, WHY["label"].format(label))

    def build(self, service, value, path):
        build = {"context": value} if isinstance(value, str) else _mapping(value)
        context = str(build.get("context") or ".")
        if self.outside(context) and not context.startswith(("http://", "https://", "git@", "git://")):
            self.add(service, "build", context, f"{path}.context", WHY["bind"].format(self.outside(context)))
        network = str(build.get("network") or "")
        if network in ("host",) or network.startswith("container:"):
            self.add(service, "build.network", network, f"{path}.network", WHY["build_network"].format(network))

    def volume(self, service, volume, path, doc):
        if isinstance(volume, dict):
            kind, source = volume.get("type", "volume"), str(volume.get("source") or "")
            if kind == "bind" or (kind != "volume" and kind != "tmpfs"):
                bad = self.outside(source) if kind == "bind" else f"{source} ({kind})"
                if bad:
                    self.add(service, "volumes", volume, path, WHY["bind"].format(bad))
            return
        source = parse_volume(str(volume))[0]
        if source and is_bind_source(source) and self.outside(source):
            self.add(service, "volumes", volume, path, WHY["bind"].format(self.outside(source)))

    # --- the top level -----------------------------------------------------------------

    def top_level(self, doc):
        for key, value in doc.items():
            key = str(key)
            if key.startswith("x-") or key == "services":
                continue
            if key not in TOP_LEVEL_KEYS:
                self.add("", key, value, key, WHY["key"].format(key))
            elif key == "networks":
                for net, spec in _mapping(value).items():
                    self.network(net, _mapping(spec))
            elif key == "volumes":
                for vol, spec in _mapping(value).items():
                    self.named_volume(vol, _mapping(spec))
            elif key in ("configs", "secrets"):
                for obj, spec in _mapping(value).items():
                    self.file_object(key, obj, _mapping(spec))

    def network(self, key, spec):
        where = f"networks.{key}"
        for k, v in spec.items():
            if k not in NETWORK_KEYS and not str(k).startswith("x-"):
                self.add("", f"{where}.{k}", v, f"{where}.{k}", WHY["key"].format(k))
        if "com.docker.network.bridge.name" in _mapping(spec.get("driver_opts")):
            bridge = spec["driver_opts"]["com.docker.network.bridge.name"]
            self.add("", f"{where}.driver_opts", f"bridge name {bridge}", f"{where}.driver_opts",
                     WHY["bridge"].format(bridge))
        driver = str(spec.get("driver") or "")
        if driver not in NETWORK_DRIVERS:
            self.add("", f"{where}.driver", driver, f"{where}.driver", WHY["network_driver"].format(driver))
        self.labels("", spec.get("labels") or {}, f"{where}.labels")

    def named_volume(self, key, spec):
        where = f"volumes.{key}"
        for k, v in spec.items():
            if k not in VOLUME_KEYS and not str(k).startswith("x-"):
                self.add("", f"{where}.{k}", v, f"{where}.{k}", WHY["key"].format(k))
        driver = str(spec.get("driver") or "local")
        if driver != "local":
            self.add("", f"{where}.driver", driver, f"{where}.driver", WHY["volume_driver"].format(driver))
        opts = _mapping(spec.get("driver_opts"))
        kind, device = str(opts.get("type", "")).lower(), str(opts.get("device", ""))
        if opts and (kind in ("none", "bind") or (device.startswith("/") and kind != "tmpfs")
                     or any(o.strip() in ("bind", "rbind") for o in str(opts.get("o", "")).split(","))):
            self.add("", f"{where}.driver_opts", opts, f"{where}.driver_opts", WHY["volume_opts"].format(_text(opts)))
        name = spec.get("name")
        if spec.get("external"):
            self.add("", f"{where}.external", name or key, f"{where}.external",
                     WHY["external"].format(f"volume {name or key}"))
        elif name and not self.own_name(name):
            self.add("", f"{where}.name", name, f"{where}.name", WHY["name"].format(name))
        self.labels("", spec.get("labels") or {}, f"{where}.labels")

    def file_object(self, kind, key, spec):
        where = f"{kind}.{key}"
        for k, v in spec.items():
            if str(k).startswith("x-"):
                continue
            if k not in FILE_KEYS:
                why = WHY["environment"].format(v) if k == "environment" else (
                    WHY["external"].format(f"{kind[:-1]} {spec.get('name') or key}") if k == "external" else WHY["key"].format(k))
                self.add("", f"{where}.{k}", v, f"{where}.{k}", why)
        file = spec.get("file")
        if file is not None and self.outside(file):
            self.add("", f"{where}.file", file, f"{where}.file", WHY["file"].format(self.outside(file)))


def find(doc, project, directory=None):
    """Every option of a Compose document that reaches outside its stack, in order."""
    finder = _Finder(project, directory)
    if not isinstance(doc, dict):
        return []
    for name, spec in _mapping(doc.get("services")).items():
        if isinstance(spec, dict):
            finder.service(name, spec, doc)
    finder.top_level(doc)
    return finder.found


class _NoSecrets:
    """${secret:NAME} left as written: the options are named in the user's words."""

    def expand(self, text):
        return text


def doc_of_stack(stack):
    return compose.compose_dict(stack, list(stack.services.all()), list(stack.networks.all()),
                                list(stack.volumes.all()), _NoSecrets())


def of_stack(stack):
    """Host options of a stack's rows (nothing rendered to disk)."""
    directory = stack.directory if stack.directory.is_dir() else None
    return find(doc_of_stack(stack), stack.slug, directory)


def approved(stack):
    """{(service, option)} an admin approved for this stack."""
    if not stack.pk:
        return set()
    return set(stack.host_consents.values_list("service", "option"))


def pending(stack):
    """Host options of the stack's rows that no admin approved yet."""
    ok = approved(stack)
    return [o for o in of_stack(stack) if (o.service, o.option) not in ok]


NEEDS_CONSENT = "an admin must approve it."


def check(stack):
    """Problems (stacks.validation.checks) for each host option without consent."""
    return [Problem(o.path, f"{o.why}; {NEEDS_CONSENT}") for o in pending(stack)]


def needs_consent(problem):
    """Whether a Problem is a host option waiting for an admin (not a mistake)."""
    return problem.message.endswith(NEEDS_CONSENT)
