"""The operation verbs: one entry each. A verb gets the recorded operation, its
stack's backend and a `report(message, kind)` for its steps; adding a verb is
one `@verb(...)` function here (the page, the command line and the worker read
this registry)."""
from dataclasses import dataclass
from typing import Callable

from stacks import versions
from stacks.engine.backend import get_backend
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.engine.plan import Desired, recorded
from stacks.models import PlanChanged, Stack
from stacks.monitoring import updates
from stacks.notifications import holds
from stacks.operations import rollback
from stacks.operations.planning import registry_auth, take_plan
from stacks.render import render_bundle
from stacks.validation.checks import errors, validate_stack
from stacks.versions import snapshot


@dataclass(frozen=True)
class Verb:
    name: str
    run: Callable  # run(deployment, backend, report)
    # `stack deploy|down` send these to a warm worker without loading Django
    # (stacks.management.operation_client); the others go through the Django command.
    from_command_line: bool = False
    # The stack's rows and directory go once it has succeeded (operations.removal).
    removes_stack: bool = False


VERBS = {}


def verb(name, from_command_line=False, removes_stack=False):
    def register(run):
        VERBS[name] = Verb(name, run, from_command_line, removes_stack)
        return run
    return register


def named(name):
    """The verb called `name`; ValueError names the ones there are."""
    try:
        return VERBS[name]
    except KeyError:
        raise ValueError(f"Unknown operation {name!r} (operations: {', '.join(VERBS)}).") from None


@verb("deploy", from_command_line=True)
def deploy(deployment, backend, report):
    """Render, validate, plan against the engine and apply; the plan is recorded
    before anything changes (and refused if it is not the one confirmed). With
    options["rollback_to"], first the definition that deployment applied is
    restored as a new version and its images are pinned (operations.rollback);
    a rollback refused before it applies anything leaves the definition as it was.
    With options["update"] ({service: repo@sha256:…}, monitoring.updates.pins),
    those services are pinned to the digest their registry has now: the plan
    recreates only them, and their local tag follows the image pulled."""
    stack = deployment.stack
    if not deployment.rollback_of:
        deployment.version = versions.current(stack, user=deployment.requested_by)
        deployment.save(update_fields=["version"])
        update = deployment.options.get("update") or {}
        if update:
            try:
                updates.still_valid(stack, update)
            except ValueError as exc:
                raise EngineError(str(exc), permanent=True) from None
            report("Image update: " + ", ".join(f"{s} → {p}" for s, p in sorted(update.items())))
        return _deploy(deployment, backend, report, stack, update)
    try:
        target = rollback.target_of(stack, deployment.rollback_of)
    except ValueError as exc:
        raise EngineError(str(exc), permanent=True) from None
    pins = rollback.check(stack, target, report)
    report(f"Rolling back to #{target.pk} (v{target.version.number}), with the images it ran: "
           + ", ".join(f"{s} {p[:80]}" for s, p in pins.items()))
    before = snapshot.take(stack)
    deployment.version = rollback.restore_definition(stack, target, deployment.requested_by)
    deployment.save(update_fields=["version"])
    try:
        desired, the_plan = _plan(deployment, backend, report, stack, pins)
    except (PlanChanged, EngineError):
        # Refused before anything was applied: the definition is put back as it was.
        restored, deployment.version = deployment.version, None
        deployment.save(update_fields=["version"])
        rollback.undo_restore(stack, before, restored)
        report("The definition was left as it was.")
        raise
    report(f"Restored the definition of #{target.pk} as v{deployment.version.number}")
    _apply(deployment, backend, report, stack, desired, the_plan)


def _deploy(deployment, backend, report, stack, update=None):
    desired, the_plan = _plan(deployment, backend, report, stack, update)
    _apply(deployment, backend, report, stack, desired, the_plan, follow_tags=bool(update))


def _plan(deployment, backend, report, stack, pins=None):
    """Render, validate and plan; the plan is recorded (take_plan). (Desired, plan)."""
    bundle = render_bundle(stack)
    report.mask = bundle.mask  # the steps from here on carry its secrets masked
    deployment.bundle_hash, deployment.files = bundle.hash, bundle.masked_files()
    deployment.save(update_fields=["bundle_hash", "files"])
    problems = validate_stack(stack, bundle)
    for p in problems:
        report(str(p), "error" if p.severity == "error" else "info")
    if errors(problems):
        raise EngineError(f"The stack has {len(errors(problems))} problem(s); nothing was changed.", permanent=True)
    report(f"Rendered {len(bundle.files)} files (hash {bundle.hash[:12]})")
    roles = dict(stack.services.values_list("name", "role"))
    desired = Desired.from_bundle(stack.slug, stack.directory, bundle, roles, pins, registry_auth(bundle, pins))
    the_plan = backend.plan(desired, backend.observe(desired))
    take_plan(deployment, recorded(the_plan))
    return desired, the_plan


def _apply(deployment, backend, report, stack, desired, the_plan, follow_tags=False):
    """Apply the recorded plan, then record what each service runs (an update:
    once the local tags point to the images it pulled)."""
    # Alerts of the services this plan stops or recreates are silenced until they are healthy again.
    holds.hold(deployment, the_plan.interrupted(), report)
    try:
        backend.apply(the_plan, report)
        if follow_tags:
            backend.follow_tags(desired, report)
    finally:
        _record_images(deployment, backend, desired)
    if stack.moved_from_id and stack.moved_from_id != stack.engine_id:
        _leave_old_engine(stack, report)


def _record_images(deployment, backend, desired):
    try:
        deployment.images = backend.ran(desired)
    except EngineError:
        return  # the engine went away: the operation's own error says so
    deployment.save(update_fields=["images"])


def _leave_old_engine(stack, report):
    """The second half of a move: the stack runs on its new engine; bring it down
    on the one it left (volumes stay, as with `down`)."""
    old = stack.moved_from
    report(f"Moved from engine {old.name}: bringing the stack down there")
    with using(old):
        get_backend(old.backend).down(stack.slug, report)
    Stack.objects.filter(pk=stack.pk).update(moved_from=None)
    stack.moved_from = None


@verb("stop")
def stop(deployment, backend, report):
    backend.stop(deployment.stack.slug, report)


@verb("down", from_command_line=True)
def down(deployment, backend, report):
    backend.down(deployment.stack.slug, report, volumes=bool(deployment.options.get("volumes")))


@verb("restart")
def restart(deployment, backend, report):
    backend.restart_service(deployment.stack.slug, deployment.options.get("service", ""), report)


@verb("delete", removes_stack=True)
def delete(deployment, backend, report):
    """Down, its named volumes too unless kept; then (once this succeeded) the
    stack's rows and its directory go: operations.removal.forget_stack."""
    keep = bool(deployment.options.get("keep_volumes"))
    backend.down(deployment.stack.slug, report, volumes=not keep)
    report(f"Containers and networks removed{'; volumes kept' if keep else ', volumes too'}; "
           f"the stack's rows and its directory go next")
