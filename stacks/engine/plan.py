"""The convergence plan, pure: a Compose document and the containers that exist
in, the actions that make them agree out. No Docker calls here."""
import hashlib
import json
from dataclasses import dataclass, field

from . import labels as L

RELOADABLE_ROLES = {"prometheus", "alertmanager"}


@dataclass
class Existing:
    id: str
    name: str
    service: str
    number: int
    config_hash: str
    running: bool


@dataclass
class Action:
    kind: str  # create, recreate, start, noop, remove
    service: str
    number: int
    container: Existing | None = None

    def __str__(self):
        return f"{self.kind} {self.service}#{self.number}"


@dataclass
class Plan:
    project: str
    order: list  # service names in dependency levels: [[a, b], [c]]
    actions: list = field(default_factory=list)

    def for_service(self, name):
        return [a for a in self.actions if a.service == name]

    @property
    def changes(self):
        return [a for a in self.actions if a.kind != "noop"]


def dependency_levels(services):
    """[[names with no dependency], [names depending only on those], …]."""
    remaining = {name: set((spec.get("depends_on") or {}).keys()) & set(services) for name, spec in services.items()}
    levels, done = [], set()
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if deps <= done)
        if not ready:
            raise ValueError("depends_on makes a cycle among: " + ", ".join(sorted(remaining)))
        levels.append(ready)
        done |= set(ready)
        for n in ready:
            del remaining[n]
    return levels


def config_hash(spec, image_id, files_digest=""):
    """Compose 1.x's way: sha256 of the normalized service config, image id included
    (a newer image means a recreate); for services whose mounted files cannot be
    reloaded, the files' digest too (a changed fluent.conf means a recreate)."""
    payload = json.dumps({"spec": spec, "image_id": image_id, "files": files_digest},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def files_digest(spec, files):
    """Digest of the bundle files a service bind-mounts from the stack's directory."""
    sources = []
    for vol in spec.get("volumes") or []:
        source = vol.split(":")[0]
        if source.startswith("./"):
            sources.append(source[2:].rstrip("/"))
    digest = hashlib.sha256()
    for path in sorted(files):
        if any(path == s or path.startswith(s + "/") for s in sources):
            digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest() if sources else ""


def plan(project, services, desired_hashes, existing):
    """services: the Compose document's services; desired_hashes: {service: hash};
    existing: [Existing] of the project."""
    result = Plan(project=project, order=dependency_levels(services))
    by_service = {}
    for c in existing:
        by_service.setdefault(c.service, []).append(c)
    for name in [n for level in result.order for n in level]:
        replicas = (services[name].get("deploy") or {}).get("replicas", 1)
        have = {c.number: c for c in by_service.get(name, [])}
        for number in range(1, replicas + 1):
            c = have.get(number)
            if c is None:
                result.actions.append(Action("create", name, number))
            elif c.config_hash != desired_hashes[name]:
                result.actions.append(Action("recreate", name, number, c))
            elif not c.running:
                result.actions.append(Action("start", name, number, c))
            else:
                result.actions.append(Action("noop", name, number, c))
        for number in sorted((n for n in have if n > replicas), reverse=True):
            result.actions.append(Action("remove", name, number, have[number]))
    for svc, containers in sorted(by_service.items()):
        if svc not in services:  # orphans: the service was removed from the stack
            for c in sorted(containers, key=lambda c: -c.number):
                result.actions.append(Action("remove", svc, c.number, c))
    return result


def existing_from_labels(containers):
    out = []
    for c in containers:
        lab = c["Labels"] or {}
        if lab.get(L.ONEOFF, "False") != "False":
            continue
        try:
            number = int(lab.get(L.NUMBER, "1"))
        except ValueError:
            number = 1
        out.append(Existing(id=c["Id"], name=(c.get("Names") or ["/"])[0].lstrip("/"),
                            service=lab.get(L.SERVICE, ""), number=number,
                            config_hash=lab.get(L.CONFIG_HASH, ""), running=c.get("State") == "running"))
    return out
