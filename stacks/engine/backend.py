"""The seam between plan/apply and what carries it out. A backend observes a
project, plans from a Desired and that observation (pure), applies a plan, and
runs the operations on what already runs. ComposeBackend does it the way
docker-compose does, container by container; another (Swarm services) can sit
beside it with the same verbs."""
import base64
import json
from typing import Protocol

from .plan import STATE_FILE, Desired, Observed, Plan, existing_from_labels
from .plan import plan as make_plan
from .project import images_needed


class Backend(Protocol):
    name: str

    def observe(self, desired: Desired) -> Observed: ...

    def plan(self, desired: Desired, observed: Observed) -> Plan: ...

    def apply(self, plan: Plan, report) -> Plan: ...

    def stop(self, project, report): ...

    def down(self, project, report, volumes=False): ...

    def restart_service(self, project, service, report): ...

    def status(self, project) -> list: ...


class ComposeBackend:
    name = "compose"

    def observe(self, desired):
        from . import labels as L
        from .client import api, image_id, translated

        engine = api()
        read = translated("observing the engine")
        containers = read(engine.containers)(all=True, filters={"label": f"{L.PROJECT}={desired.project}"})
        networks = {n["Name"]: n.get("Labels") or {} for n in read(engine.networks)()}
        volumes = {v["Name"]: v.get("Labels") or {} for v in (read(engine.volumes)().get("Volumes") or [])}
        images = {ref: image_id(engine, ref) for ref in images_needed(desired)}
        return Observed(containers=existing_from_labels(containers), images=images, networks=networks,
                        volumes=volumes, files=read_files(desired), state=read_state(desired))

    def plan(self, desired, observed):
        return make_plan(desired, observed)

    def apply(self, plan, report):
        from .apply import apply

        return apply(plan, report)

    def stop(self, project, report):
        from .operations import stop

        return stop(project, report)

    def down(self, project, report, volumes=False):
        from .operations import down

        return down(project, report, volumes=volumes)

    def restart_service(self, project, service, report):
        from .operations import restart_service

        return restart_service(project, service, report)

    def status(self, project):
        from .operations import stack_status

        return stack_status(project)

    def logs(self, project, service, tail=100):
        from .operations import container_logs

        return container_logs(project, service, tail=tail)


def read_files(desired):
    """{bundle path: text on disk or None}. A path that leaves the directory (a
    symlink a container planted, say) reads as absent: its content never reaches
    the plan's diff, and the write refuses it."""
    from stacks import safe_paths

    out = {}
    for path in desired.files:
        try:
            target = safe_paths.contained(desired.directory, path)
            if hasattr(desired.files[path], "data"):  # render.BinaryFile: compared as its base64 text
                out[path] = base64.b64encode(target.read_bytes()).decode()
            else:
                out[path] = target.read_text()
        except (safe_paths.UnsafePath, FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            out[path] = None
    return out


def read_state(desired):
    try:
        return json.loads((desired.directory / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def get_backend(kind="compose"):
    from .swarm import SwarmBackend

    return {"compose": ComposeBackend, "swarm": SwarmBackend}[kind]()
