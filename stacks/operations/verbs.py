"""The operation verbs: one entry each. A verb gets the recorded operation, its
stack's backend and a `report(message, kind)` for its steps; adding a verb is
one `@verb(...)` function here (the page, the command line and the worker read
this registry)."""
from dataclasses import dataclass
from typing import Callable

from stacks.engine.backend import get_backend
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.engine.plan import Desired, recorded
from stacks.models import Stack
from stacks.operations.planning import take_plan
from stacks.render import render_bundle
from stacks.validation.checks import errors, validate_stack


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
    before anything changes (and refused if it is not the one confirmed)."""
    stack = deployment.stack
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
    desired = Desired.from_bundle(stack.slug, stack.directory, bundle, roles)
    the_plan = backend.plan(desired, backend.observe(desired))
    take_plan(deployment, recorded(the_plan))
    backend.apply(the_plan, report)
    if stack.moved_from_id and stack.moved_from_id != stack.engine_id:
        _leave_old_engine(stack, report)


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
