"""Host-level Compose options: what gives a container power over the Docker host.

A service may use them only in a stack an admin marked `allow_host_access`;
validation names each one, and so does the stack's page."""
import posixpath
from dataclasses import dataclass

from stacks.lib.composefile import parse_volume
from stacks.render.compose import service_dict
from stacks.validation.problems import Problem

# Bind sources that expose the host: its root, kernel interfaces, devices, and
# the Docker socket (directly, or through the directory that holds it).
HOST_PATHS = ("/", "/proc", "/sys", "/dev", "/var/run", "/run", "/var/lib/docker", "/boot", "/etc")
HOST_PATH_PREFIXES = ("/proc/", "/sys/", "/dev/")


@dataclass(frozen=True)
class HostOption:
    service: str
    option: str  # in Compose's words: "privileged: true", "bind mount of /"

    def __str__(self):
        return f"{self.service}: {self.option}"


def _bind_source(volume):
    if isinstance(volume, dict):
        return volume.get("source", "") if volume.get("type", "bind") == "bind" else ""
    return parse_volume(str(volume))[0]


def _host_path(source):
    if not source.startswith("/"):
        return ""
    path = posixpath.normpath(source)
    path = "/" if path == "//" else path
    if path in HOST_PATHS or path.startswith(HOST_PATH_PREFIXES) or path.endswith("docker.sock"):
        return path
    return ""


def service_options(name, spec):
    found = []
    if spec.get("privileged"):
        found.append("privileged: true")
    caps = spec.get("cap_add") or []
    if any(str(c).upper() in ("ALL", "CAP_ALL") for c in caps):
        found.append("cap_add: ALL")
    for key in ("network_mode", "pid", "ipc", "userns_mode", "uts"):
        if str(spec.get(key) or "") == "host":
            found.append(f"{key}: host")
    for volume in spec.get("volumes") or []:
        path = _host_path(_bind_source(volume))
        if path:
            found.append(f"bind mount of {path}")
    for device in spec.get("devices") or []:
        found.append(f"device {device if isinstance(device, str) else device.get('source', device)}")
    return [HostOption(name, option) for option in found]


def host_options(compose_doc):
    """Every host-level option of a Compose document, service by service."""
    found = []
    for name, spec in sorted((compose_doc.get("services") or {}).items()):
        found += service_options(name, spec or {})
    return found


def check(stack, compose_doc):
    """Problems (from stacks.validation.checks) for host-level options a stack may not use."""
    if stack.allow_host_access:
        return []
    return [Problem(f"service {o.service}", f"{o.option} gives the container power over the Docker host; "
                                            "only a stack an admin marked \u201callow host access\u201d may use it.")
            for o in host_options(compose_doc)]


def of_stack(stack, services):
    """Host-level options of a stack's services, from its rows (no secrets needed)."""
    class _NoSecrets:
        def expand(self, text):
            return text

    return host_options({"services": {svc.name: service_dict(svc, _NoSecrets()) for svc in services}})
