"""The plan, pure: what the rows render to (Desired) and what the engine has
(Observed) in, everything a deploy would do out — images to pull or build,
networks and volumes to create or remove, per container create / recreate (and
which setting changed) / start / remove, per service reload (which file), and
the file diff. No Docker calls here: testable without an engine."""
import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from stacks.engine import labels as L
from stacks.engine.project import image_steps, network_steps, volume_steps
from stacks.engine.service import (
    Action,
    Existing,
    applied_record,
    config_hash,
    converge,
    file_digests,
    files_digest,
    hash_inputs,
    reloadable,
    what_changed,
)
from stacks.lib.composefile import dependency_levels, image_of

STATE_FILE = ".panel-state.json"


@dataclass
class Desired:
    """A rendered bundle, placed: the project's name and directory, the Compose
    document, the files and each service's role."""
    project: str
    directory: Path
    compose: dict
    files: dict
    roles: dict = field(default_factory=dict)
    mask: object = field(default=lambda text: text, repr=False)
    # A rollback's images: {service: "repo@sha256:…" or "sha256:<id>"}, run instead of what the tag points to now.
    pins: dict = field(default_factory=dict)
    # Registry logins for pulls, as plain values from the caller: {host: {"username", "password", …}}.
    auth: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def services(self):
        return self.compose.get("services", {})

    @classmethod
    def from_bundle(cls, project, directory, bundle, roles, pins=None, auth=None):
        return cls(project, Path(directory).resolve(), bundle.compose, bundle.files, roles, bundle.mask, pins or {},
                   auth or {})


@dataclass
class Observed:
    """What the engine (and the stack's directory) hold for a project."""
    containers: list = field(default_factory=list)  # [Existing]
    images: dict = field(default_factory=dict)  # {image ref: id, "" when absent}
    networks: dict = field(default_factory=dict)  # {engine name: labels}
    volumes: dict = field(default_factory=dict)  # {engine name: labels}
    files: dict = field(default_factory=dict)  # {bundle path: text on disk, None when absent}
    state: dict = field(default_factory=dict)  # STATE_FILE: what each service last loaded
    pinned: dict = field(default_factory=dict)  # {pinned reference: id, "" when absent}


@dataclass
class FileChange:
    path: str
    change: str  # add, modify
    diff: str  # unified diff, secrets masked


@dataclass
class Reload:
    service: str
    role: str
    files: list

    def __str__(self):
        return f"reload {self.service} ({', '.join(self.files)})"


@dataclass
class Plan:
    project: str
    order: list  # service names in dependency levels: [[a, b], [c]]
    actions: list = field(default_factory=list)  # [Action], noops included
    images: list = field(default_factory=list)  # [Step]
    networks: list = field(default_factory=list)  # [Step]
    volumes: list = field(default_factory=list)  # [Step]
    files: list = field(default_factory=list)  # [FileChange]
    reloads: list = field(default_factory=list)  # [Reload]
    previous_files: dict = field(default_factory=dict, repr=False)  # {path: text before} (a refused reload puts it back)
    hashes: dict = field(default_factory=dict)  # {service: desired config hash}
    applied: dict = field(default_factory=dict)  # {service: per-setting digests}
    state: dict = field(default_factory=dict)  # STATE_FILE once applied
    desired: Desired | None = field(default=None, repr=False, compare=False)

    def for_service(self, name):
        return [a for a in self.actions if a.service == name]

    @property
    def changes(self):
        return [a for a in self.actions if a.kind != "noop"]

    def interrupted(self):
        """The services whose containers this plan stops (recreate, remove): their
        alerts are held while it runs (stacks.notifications.holds)."""
        return sorted({a.service for a in self.actions if a.kind in ("recreate", "remove")})

    @property
    def is_empty(self):
        return not (self.changes or self.images or self.networks or self.volumes or self.files or self.reloads)

    def summary(self):
        """One line: the step every deployment records first."""
        parts = ([str(s) for s in self.images] + [f"{s.kind} network {s.target}" for s in self.networks]
                 + [f"{s.kind} volume {s.target}" for s in self.volumes]
                 + [str(a) for a in self.changes] + [str(r) for r in self.reloads])
        if self.files:
            parts.append(f"write {len(self.files)} file(s)")
        return ", ".join(parts) if parts else "nothing to change"

    def as_dict(self):
        """JSON-ready, as `stack plan --json` prints it and the Deployment keeps it."""
        return {
            "project": self.project,
            "empty": self.is_empty,
            "lines": self.lines(),
            "order": self.order,
            "images": [asdict(s) for s in self.images],
            "networks": [asdict(s) for s in self.networks],
            "volumes": [asdict(s) for s in self.volumes],
            "services": [{"service": a.service, "number": a.number, "action": a.kind, "reason": a.reason,
                          "container": a.container.name if a.container else ""} for a in self.changes],
            "reloads": [asdict(r) for r in self.reloads],
            "files": [asdict(f) for f in self.files],
        }

    def lines(self):
        """Human-readable, one change a line (the command line and the page)."""
        out = []
        out += [f"image    {s}" for s in self.images]
        out += [f"network  {s}" for s in self.networks]
        out += [f"volume   {s}" for s in self.volumes]
        for a in self.changes:
            out.append(f"service  {a.kind} {a.service}#{a.number}" + (f" ({a.reason})" if a.reason else ""))
        out += [f"service  reload {r.service} ({', '.join(r.files)} changed)" for r in self.reloads]
        out += [f"file     {f.change} {f.path}" for f in self.files]
        return out or ["nothing to change"]


def recorded(plan):
    """The plan as it is shown, confirmed and recorded: as_dict() plus its `id`, a
    digest of everything it would do. The same state gives the same id; a deploy
    confirmed on one id refuses to apply a plan with another (Deployment.take_plan)."""
    out = plan.as_dict()
    out["id"] = hashlib.sha256(json.dumps(out, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    return out


def changed_lines(confirmed, now):
    """What differs between the lines of a confirmed plan and of the plan now, in
    words: "now also: start web#1 (stopped); no longer: create web#2"."""
    nothing = "nothing to change"
    added = [line for line in now if line not in confirmed and line != nothing]
    gone = [line for line in confirmed if line not in now and line != nothing]
    parts = ([f"now also: {'; '.join(' '.join(x.split()) for x in added)}"] if added else []) + \
            ([f"no longer: {'; '.join(' '.join(x.split()) for x in gone)}"] if gone else [])
    return ", ".join(parts)


def existing_from_labels(containers):
    """Existing containers from the engine's list (low-level API dicts)."""
    out = []
    for c in containers:
        lab = c["Labels"] or {}
        if lab.get(L.ONEOFF, "False") != "False":
            continue
        try:
            number = int(lab.get(L.NUMBER, "1"))
        except ValueError:
            number = 1
        try:
            applied = json.loads(lab[L.APPLIED]) if L.APPLIED in lab else None
        except ValueError:
            applied = None
        out.append(Existing(id=c["Id"], name=(c.get("Names") or ["/"])[0].lstrip("/"),
                            service=lab.get(L.SERVICE, ""), number=number,
                            config_hash=lab.get(L.CONFIG_HASH, ""), running=c.get("State") == "running",
                            applied=applied))
    return out


def _file_changes(desired, observed, previous):
    changes = []
    for path, text in desired.files.items():
        old = observed.files.get(path)
        if old == text:
            continue
        diff = "".join(difflib.unified_diff(
            desired.mask(old or "").splitlines(keepends=True), desired.mask(text).splitlines(keepends=True),
            fromfile=f"a/{path}" if old is not None else "/dev/null", tofile=f"b/{path}"))
        changes.append(FileChange(path, "add" if old is None else "modify", diff))
        previous[path] = old
    return changes


def plan(desired, observed):
    services = desired.services
    result = Plan(project=desired.project, order=dependency_levels(services), desired=desired)
    result.images = image_steps(desired, observed)
    result.networks = network_steps(desired, observed)
    result.volumes = volume_steps(desired, observed)
    result.files = _file_changes(desired, observed, result.previous_files)

    by_service = {}
    for c in observed.containers:
        by_service.setdefault(c.service, []).append(c)
    for name in [n for level in result.order for n in level]:
        spec, role = services[name], desired.roles.get(name)
        pin = desired.pins.get(name)
        image_id = observed.pinned.get(pin, "") if pin else observed.images.get(image_of(desired.project, name, spec), "")
        result.hashes[name] = config_hash(spec, image_id, hash_inputs(spec, role, desired.files, desired.compose))
        result.applied[name] = applied = applied_record(spec, image_id, role, desired.files, desired.compose)
        by_service[name] = _adopted(name, spec, image_id, result, observed, by_service.get(name, []))

        def reason(c, applied=applied):
            return ", ".join(what_changed(c.applied, applied)) + " changed"

        actions = converge(name, spec, result.hashes[name], by_service.get(name, []), reason)
        result.actions += actions
        result.state[f"files:{name}"] = digests = file_digests(spec, desired.files, desired.compose)
        touched = any(a.kind in ("create", "recreate", "start") for a in actions)
        if reloadable(role) and digests and not touched:
            changed = _reload_files(observed.state.get(f"files:{name}"), digests,
                                    files_digest(spec, desired.files, desired.compose))
            if changed:
                result.reloads.append(Reload(name, role, changed))
    for svc, containers in sorted(by_service.items()):
        if svc not in services:  # orphans: the service was removed from the stack
            for c in sorted(containers, key=lambda c: -c.number):
                result.actions.append(Action("remove", svc, c.number, c, "service no longer in the stack"))
    return result


def adoption_digest(spec, image_id):
    """What an adopted service ran with, in the panel's terms: its rendered spec
    and its image, as recorded when the project was adopted."""
    return config_hash(spec, image_id)


def _adopted(name, spec, image_id, result, observed, containers):
    """Containers docker-compose created (its own config hash on them) count as
    up to date while the service's spec and image are those recorded at adoption
    (stacks.adoption.adopt): the first deploys after adopting do not recreate them."""
    record = observed.state.get(f"adopted:{name}")
    if not record or record.get("digest") != adoption_digest(spec, image_id):
        return containers
    result.state[f"adopted:{name}"] = record
    return [replace(c, config_hash=result.hashes[name]) if c.config_hash == record.get("hash") else c
            for c in containers]


def _reload_files(before, digests, digest):
    """The mounted files that changed since the service last loaded them."""
    if isinstance(before, str):  # the state file of an earlier release: one digest for all files
        return [] if before == digest else sorted(digests)
    before = before or {}
    return sorted(p for p, d in digests.items() if before.get(p) != d)
