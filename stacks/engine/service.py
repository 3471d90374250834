"""One service, as Compose 1.x's service.py: its config hash, the files it mounts,
and its convergence (create, recreate, start, nothing, remove); its containers'
docker-py arguments are container.py's. Pure: no Docker calls here."""
import hashlib
import json
from dataclasses import dataclass

from stacks.lib.composefile import file_refs, replicas

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

def _sources(spec, doc):
    """The stack-directory paths a service mounts: its ./ volumes, and the files of
    the top-level configs and secrets it uses (file_mounts)."""
    sources = [v.split(":")[0][2:].rstrip("/") for v in spec.get("volumes") or [] if v.split(":")[0].startswith("./")]
    return sources + [file.removeprefix("./").rstrip("/") for _k, _e, _t, file in file_refs(doc or {}, spec) if file]


def mounted_files(spec, files, doc=None):
    """Bundle paths a service bind-mounts from the stack's directory, sorted; `doc`,
    the Compose document, for the files of its configs and secrets."""
    sources = _sources(spec, doc)
    return [p for p in sorted(files) if any(p == s or p.startswith(s + "/") for s in sources)]


def files_digest(spec, files, doc=None):
    """Digest of the bundle files a service bind-mounts ("" when it mounts none)."""
    paths = mounted_files(spec, files, doc)
    has_sources = bool(_sources(spec, doc))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest() if has_sources else ""


def file_digests(spec, files, doc=None):
    """{path: digest} of the files a service mounts: what a reload is decided on."""
    return {path: sha(files[path]) for path in mounted_files(spec, files, doc)}


def reloadable(role):
    return role in RELOADABLE_ROLES


# --- Hash -------------------------------------------------------------------------

def without_scale(spec):
    """The spec one container is made from: the replica count is the service's,
    not the container's (Compose 1.x leaves it out of the hash too), so scaling
    adds or removes replicas and never recreates the ones that stay."""
    deploy = {k: v for k, v in (spec.get("deploy") or {}).items() if k != "replicas"}
    out = {k: v for k, v in spec.items() if k != "deploy"}
    if deploy:
        out["deploy"] = deploy
    return out


def config_hash(spec, image_id, files_digest=""):
    """Compose 1.x's way: sha256 of the normalized service config, image id included
    (a newer image means a recreate); for services whose mounted files cannot be
    reloaded, the files' digest too (a changed fluent.conf means a recreate)."""
    payload = json.dumps({"spec": without_scale(spec), "image_id": image_id, "files": files_digest},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def hash_inputs(spec, role, files, doc=None):
    """What goes into the hash besides the image: the mounted files' digest, unless
    the program reloads them itself."""
    return "" if reloadable(role) else files_digest(spec, files, doc)


def applied_record(spec, image_id, role, files, doc=None):
    """Per-setting digests kept on the container (a label), so that the next plan
    can say which setting changed. Digests only: no value, no secret."""
    record = {key: _digest(value) for key, value in without_scale(spec).items()}
    record["(image)"] = image_id[:19]
    if not reloadable(role):
        record.update({f"./{p}": d for p, d in file_digests(spec, files, doc).items()})
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
    desired config: Compose's convergence plan. Scaling creates or removes the
    replicas beyond the count, highest number first, and leaves the others."""
    actions = []
    have = {c.number: c for c in containers}
    count = replicas(spec)
    scale = f"scale {len(have)} → {count}" if have and len(have) != count else ""
    for number in range(1, count + 1):
        c = have.get(number)
        if c is None:
            actions.append(Action("create", name, number, reason=scale))
        elif c.config_hash != desired_hash:
            actions.append(Action("recreate", name, number, c, reason_for(c)))
        elif not c.running:
            actions.append(Action("start", name, number, c, "stopped"))
        else:
            actions.append(Action("noop", name, number, c))
    for number in sorted((n for n in have if n > count), reverse=True):
        actions.append(Action("remove", name, number, have[number], scale or f"replicas: {count}"))
    return actions
