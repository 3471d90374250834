"""The Compose backend: a project converged the way docker-compose does it,
container by container (plan.py plans, apply.py applies, operations.py runs the
verbs on what already runs)."""
from stacks.engine import labels as L
from stacks.engine.apply import apply
from stacks.engine.base import Logs, merged_lines, read_files, read_state
from stacks.engine.client import api, image_id, tag, translated
from stacks.engine.operations import down, images_ran, log_streams, restart_service, stack_status, stop
from stacks.engine.plan import Observed, existing_from_labels
from stacks.engine.plan import plan as make_plan
from stacks.engine.project import images_needed
from stacks.lib.composefile import image_of


class ComposeBackend(Logs):
    name = "compose"

    def observe(self, desired):
        engine = api()
        read = translated("observing the engine")
        containers = read(engine.containers)(all=True, filters={"label": f"{L.PROJECT}={desired.project}"})
        networks = {n["Name"]: n.get("Labels") or {} for n in read(engine.networks)()}
        volumes = {v["Name"]: v.get("Labels") or {} for v in (read(engine.volumes)().get("Volumes") or [])}
        images = {ref: image_id(engine, ref) for ref in images_needed(desired)}
        pinned = {pin: image_id(engine, pin) for pin in desired.pins.values()}
        return Observed(containers=existing_from_labels(containers), images=images, networks=networks,
                        volumes=volumes, files=read_files(desired), state=read_state(desired), pinned=pinned)

    def plan(self, desired, observed):
        return make_plan(desired, observed)

    def apply(self, plan, report):
        return apply(plan, report)

    def ran(self, desired):
        return images_ran(desired)

    def follow_tags(self, desired, report):
        """After an update pulled by digest: each pinned service's tag points to
        the image it now runs, so the next deploy of the tag sees no change."""
        engine = api()
        for name, pin in sorted(desired.pins.items()):
            reference = image_of(desired.project, name, desired.services[name])
            tag(engine, pin, reference)
            report(f"{reference} now names the image {name} runs ({pin.partition('@')[2][:19]})")

    def stop(self, project, report):
        return stop(project, report)

    def down(self, project, report, volumes=False):
        return down(project, report, volumes=volumes)

    def restart_service(self, project, service, report):
        return restart_service(project, service, report)

    def status(self, project):
        return stack_status(project)

    def follow_logs(self, project, service, tail=100, follow=False):
        """Every container's lines; of a replicated service, each named as
        `docker-compose logs` names them (NAME | line), in time order."""
        return merged_lines(log_streams(project, service, tail=tail, follow=follow), follow)
