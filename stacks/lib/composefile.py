"""What a Compose document means, in one place: the short port syntax, the engine
names of networks, volumes and containers, and the depends_on graph. Pure: used
by the models, validation, rendering and the engine alike."""
import graphlib
import posixpath
import re

DEPENDS_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

_PORT_RE = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9.]+):)?(?P<host>\d+(?:-\d+)?)?:)?(?P<container>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp|sctp))?$"
)


# --- Ports ----------------------------------------------------------------------

def parse_port(spec):
    """Split a Compose short port syntax into (host ip, host port or range, container
    port, protocol); raises ValueError in the user's terms."""
    m = _PORT_RE.match(spec.strip())
    if not m:
        raise ValueError(f"{spec!r} is not a port mapping like \"9090:9090\" or \"127.0.0.1:3000:3000\".")
    ip = (m.group("ip") or "").strip("[]")
    return ip, m.group("host") or "", m.group("container"), m.group("proto") or "tcp"


def host_port_range(host):
    """'9100' → (9100, 9100); '9100-9102' → (9100, 9102); '' → None."""
    if not host:
        return None
    lo, _, hi = host.partition("-")
    return int(lo), int(hi or lo)


def replica_host_port(host, number):
    """The host port replica `number` binds: the n-th port of a range, else the port."""
    span = host_port_range(host)
    if span is None:
        return None
    return span[0] + number - 1 if span[1] > span[0] else span[0]


def claimed_host_ports(spec, replicas):
    """Host ports a port spec claims across replicas: [(ip, proto, port)]. A single
    port with more than one replica is claimed once per replica (that is the clash)."""
    ip, host, _container, proto = parse_port(spec)
    span = host_port_range(host)
    if span is None:
        return []
    if span[1] > span[0]:
        return [(ip or "0.0.0.0", proto, p) for p in range(span[0], span[1] + 1)]
    return [(ip or "0.0.0.0", proto, span[0])] * replicas


# --- Volumes ---------------------------------------------------------------------

def parse_volume(spec):
    """Compose's short volume syntax → (source, target, mode); the source is ''
    for an anonymous volume ("/data"), as Compose splits it ("src:target[:mode]")."""
    source, sep, rest = spec.partition(":")
    if not sep:
        return "", spec, ""
    target, _, mode = rest.partition(":")
    return source, target, mode


def is_bind_source(source):
    """A path on the host (relative to the project, absolute or ~), not a volume's name."""
    return source.startswith((".", "/", "~"))


def project_source(source):
    """The path inside the project's directory a bind source names, normalised
    ("" for the directory itself); None for a volume's name, a host path, or a
    path that leaves the directory."""
    if not source.startswith("."):
        return None
    norm = posixpath.normpath(source)
    if norm == ".." or norm.startswith("../"):
        return None
    return "" if norm == "." else norm


def project_path(path):
    """project_source for a field that can only be a path (build context,
    env_file, a config's or secret's file, a long-syntax bind source): there
    Compose reads a bare relative path ("backend", "db/password.txt") from the
    project's directory too."""
    path = str(path)
    return project_source(path if path.startswith((".", "/", "~")) or not path else f"./{path}")


def file_refs(doc, spec):
    """A service's `configs:` and `secrets:` entries as every engine reads them:
    [(key, entry as a mapping, target, the file the top-level definition names or
    "")]. The target defaults as Compose's: a config at /<source>, a secret at
    /run/secrets/<source>; a relative one goes under those directories."""
    out = []
    for key, base in (("configs", "/"), ("secrets", "/run/secrets/")):
        defs = doc.get(key) or {}
        for entry in spec.get(key) or []:
            entry = {"source": entry} if isinstance(entry, str) else entry
            target = entry.get("target") or entry["source"]
            file = str((defs.get(entry["source"]) or {}).get("file") or "")
            out.append((key, entry, target if target.startswith("/") else base + target, file))
    return out


# --- Names ------------------------------------------------------------------------

def network_name(project, key, spec=None):
    """Engine name of network `key`: its `name:`, else `{project}_{key}`."""
    return (spec or {}).get("name") or f"{project}_{key}"


def volume_name(project, key, spec=None):
    """Engine name of volume `key`: its `name:`, else its key when external, else
    `{project}_{key}`."""
    spec = spec or {}
    return spec.get("name") or (key if spec.get("external") else f"{project}_{key}")


def container_name(project, service, number):
    return f"{project}_{service}_{number}"  # Compose 1.x naming, as Debian's docker-compose


def service_networks(spec):
    """The network keys a service joins, in order (the first is its primary one)."""
    return list(spec.get("networks") or ["default"])


def network_keys(doc):
    """Every network key the services of a document use, sorted."""
    return sorted({key for spec in doc.get("services", {}).values() for key in service_networks(spec)})


def service_network_names(project, doc, spec):
    defs = doc.get("networks") or {}
    return {network_name(project, key, defs.get(key)) for key in service_networks(spec)}


def replicas(spec):
    return (spec.get("deploy") or {}).get("replicas", 1)


def image_of(project, name, spec):
    """The image a service runs: its `image:`, else the one its build is tagged with."""
    return spec.get("image") or f"{project}_{name}"


# --- The depends_on graph ------------------------------------------------------------

def depends_on(spec):
    """{dependency: condition} of a service, from either Compose syntax."""
    deps = spec.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {d: (c.get("condition", "service_started") if isinstance(c, dict) else c or "service_started")
            for d, c in deps.items()}


def dependency_graph(services):
    """{service: {services it depends on}}, unknown names left out (validation names them)."""
    return {name: set(depends_on(spec)) & set(services) for name, spec in services.items()}


def find_cycle(services):
    """The services of a depends_on cycle, first one repeated at the end, or None."""
    try:
        graphlib.TopologicalSorter(dependency_graph(services)).prepare()
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))
    return None


def dependency_levels(services):
    """[[names with no dependency], [names depending only on those], …]."""
    sorter = graphlib.TopologicalSorter(dependency_graph(services))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise ValueError("depends_on makes a cycle: " + " → ".join(reversed(exc.args[1])) + ".") from None
    levels = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        levels.append(ready)
        sorter.done(*ready)
    return levels


def map_strings(value, fn):
    """Apply fn to every string value (not key) of nested lists and dicts."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value


def escape_dollars(value):
    """Compose interpolates $VAR: a literal '$' the user typed is written '$$'."""
    return map_strings(value, lambda s: s.replace("$", "$$"))


def unescape_dollars(value):
    """What a program sees of a Compose value: '$$' is a literal '$'."""
    return map_strings(value, lambda s: s.replace("$$", "$"))
