"""The project, as Compose 1.x's project.py: its images, networks and volumes —
what exists, what a deploy must pull, build, create or remove. Pure."""
from dataclasses import dataclass

from stacks.engine import labels as L
from stacks.engine.client import EngineError, translated
from stacks.lib.composefile import image_of, network_keys, network_name, volume_name


@dataclass
class Step:
    kind: str  # pull, build, create, remove, missing
    target: str  # image reference, network or volume engine name
    key: str = ""  # the Compose key (network, volume) or the service that uses the image
    reason: str = ""

    def __str__(self):
        return f"{self.kind} {self.target}" + (f" ({self.reason})" if self.reason else "")


def images_needed(desired):
    """{image ref: (service, build spec or None)}, first service naming it wins;
    a service pinned to an image (a rollback's) needs that one instead."""
    out = {}
    for name, spec in desired.services.items():
        if name not in desired.pins:
            out.setdefault(image_of(desired.project, name, spec), (name, spec.get("build")))
    return out


def image_steps(desired, observed):
    steps = []
    for ref, (service, build) in images_needed(desired).items():
        if not observed.images.get(ref):
            steps.append(Step("build" if build else "pull", ref, service, "not on the engine"))
    for service, pin in sorted(desired.pins.items()):
        if not observed.pinned.get(pin) and not any(s.target == pin for s in steps):
            # An image id names only what this engine holds; a digest can be pulled again.
            steps.append(Step("pull", pin, service, "the digest it is pinned to") if "@sha256:" in pin
                         else Step("missing", pin, service, "no longer on the engine"))
    return steps


def network_steps(desired, observed):
    defs = desired.compose.get("networks") or {}
    keys = network_keys(desired.compose)
    steps = []
    for key in keys:
        spec = defs.get(key) or {}
        name = network_name(desired.project, key, spec)
        if name not in observed.networks:
            steps.append(Step("create", name, key, "shared" if spec.get("external") else ""))
    wanted = {network_name(desired.project, key, defs.get(key)) for key in keys}
    for name, labels in sorted(observed.networks.items()):
        if labels.get(L.PROJECT) == desired.project and name not in wanted:
            steps.append(Step("remove", name, labels.get(L.NETWORK, ""), "no service uses it"))
    return steps


def volume_steps(desired, observed):
    # Volumes hold data: a deploy creates the missing ones and never removes any
    # (`stack down --volumes` does).
    steps = []
    for key, spec in (desired.compose.get("volumes") or {}).items():
        name = volume_name(desired.project, key, spec)
        if name in observed.volumes:
            continue
        if (spec or {}).get("external"):
            steps.append(Step("missing", name, key, "external: create it first"))
        else:
            steps.append(Step("create", name, key))
    return steps


def _labels(value):
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {k: v for k, _, v in (str(item).partition("=") for item in value or [])}


def network_options(spec, labels):
    """docker-py create_network arguments for a network's Compose keys, the
    project's `labels` with the network's own."""
    options = {"driver": spec.get("driver") or "bridge", "labels": {**_labels(spec.get("labels")), **labels}}
    if spec.get("driver_opts"):
        options["options"] = {str(k): str(v) for k, v in spec["driver_opts"].items()}
    for key in ("internal", "attachable", "enable_ipv6"):
        if key in spec:
            options[key] = bool(spec[key])
    ipam = spec.get("ipam")
    if ipam:
        pools = [{"Subnet": c.get("subnet"), "IPRange": c.get("ip_range"), "Gateway": c.get("gateway"),
                  "AuxiliaryAddresses": c.get("aux_addresses")} for c in ipam.get("config") or []]
        options["ipam"] = {"Driver": ipam.get("driver", "default"), "Options": ipam.get("options"),
                           "Config": [{k: v for k, v in p.items() if v} for p in pools]}
    return options


def volume_options(spec, labels):
    """docker-py create_volume arguments for a volume's Compose keys."""
    options = {"labels": {**_labels(spec.get("labels")), **labels}}
    if spec.get("driver"):
        options["driver"] = spec["driver"]
    if spec.get("driver_opts"):
        options["driver_opts"] = {str(k): str(v) for k, v in spec["driver_opts"].items()}
    return options


def remove_networks_and_volumes(engine, label, volumes, report):
    """What `down` leaves of a project after its containers or services are gone: its
    networks (one still used elsewhere is kept, and said so) and, if asked, its volumes."""
    for net in engine.networks(filters={"label": label}):
        try:
            translated("")(engine.remove_network)(net["Id"])
            report(f"Removed network {net['Name']}")
        except EngineError as exc:
            report(f"Kept network {net['Name']}: {exc}", "error")
    if volumes:
        for vol in engine.volumes(filters={"label": label}).get("Volumes") or []:
            translated("")(engine.remove_volume)(vol["Name"], force=True)
            report(f"Removed volume {vol['Name']}")
