"""What a Swarm deploy would do (pure): SwarmPlan from the rendered stack and
SwarmObserved; networks, configs and secrets to create (rotations named), and per
service create, update (with what changed), scale, nothing or remove."""
from dataclasses import dataclass, field

from stacks.engine.client import EngineError
from stacks.engine.swarm_spec import (
    MAX_OBJECT_BYTES,
    SPEC_HASH,
    STACK_IMAGE,
    convert_service,
    network_create_options,
    payload,
    spec_image,
)
from stacks.lib.composefile import network_name, service_networks


@dataclass
class SwarmObserved:
    services: dict = field(default_factory=dict)  # {name: {"id", "version", "hash", "replicas"}}
    configs: dict = field(default_factory=dict)  # {name: id}
    secrets: dict = field(default_factory=dict)  # {name: id}
    networks: set = field(default_factory=set)  # every network name on the engine
    # A pinned service (rollback, update): the image id its current spec's
    # reference names on the manager, and each pin's: {full name: id}, {pin: id}.
    running: dict = field(default_factory=dict)
    pinned: dict = field(default_factory=dict)


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
    auth: dict = field(default_factory=dict, repr=False, compare=False)  # Desired.auth: registry logins

    @property
    def changes(self):
        return [s for s in self.services if s.kind != "noop"]

    def interrupted(self):
        """Services whose tasks this plan replaces or removes (update, remove)."""
        return sorted({s.service for s in self.services if s.kind in ("update", "remove")})

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
    p = SwarmPlan(project, auth=desired.auth)
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
        if name in desired.pins:
            spec = dict(spec, image=_pinned_reference(project, name, desired.pins[name], observed))
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


def _pinned_reference(project, name, pin, observed):
    """The pin, unless the service already runs that very image under the
    reference it has: then that reference stays and the service is not updated
    for nothing (a rollback touches only what changed, as on Compose)."""
    full = f"{project}_{name}"
    spec = (observed.services.get(full) or {}).get("spec") or {}
    running = spec_image(spec)  # as Swarm resolved it
    rendered = spec.get("Labels", {}).get(STACK_IMAGE, running)  # as the panel asked for it
    if not running:
        return pin
    digest = pin.partition("@")[2]
    if digest and running.endswith(f"@{digest}"):
        return rendered
    same_id = observed.running.get(full) and observed.running.get(full) == observed.pinned.get(pin)
    return rendered if same_id else pin


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
