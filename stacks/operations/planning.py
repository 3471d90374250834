"""What a deploy would do now, and the rule that a confirmed plan binds the deploy."""
from django.db import transaction

from stacks.engine.backend import plan_deploy as engine_plan
from stacks.engine.connect import using
from stacks.engine.plan import changed_lines
from stacks.models import PlanChanged, Registry
from stacks.operations import rollback
from stacks.render import render_bundle
from stacks.validation.checks import errors, validate_stack


def registry_auth(bundle, pins=None):
    """{registry host: login} for the images a bundle (and pins) pull: plain
    values handed to the engine, which never reads rows."""
    refs = [spec.get("image", "") for spec in (bundle.compose.get("services") or {}).values()]
    return Registry.auth_for(refs + list((pins or {}).values()))


def plan_deploy(stack, pins=None):
    """(bundle, problems, plan): what deploying `stack` now would do; changes
    nothing. The plan is None when validation finds errors."""
    bundle = render_bundle(stack)
    problems = validate_stack(stack, bundle)
    if errors(problems):
        return bundle, problems, None
    roles = dict(stack.services.values_list("name", "role"))
    with using(stack.engine):
        return bundle, problems, engine_plan(stack.slug, stack.directory, bundle, roles, stack.engine.backend,
                                             pins, registry_auth(bundle, pins))


class _Undo(Exception):
    pass


def plan_rollback(stack, deployment_id):
    """(bundle, problems, plan) of rolling `stack` back to a deployment: its
    definition restored in a transaction that is then undone, planned with the
    images it ran. Changes nothing; ValueError / EngineError say why it cannot be."""
    target = rollback.target_of(stack, deployment_id)
    with using(stack.engine):
        pins = rollback.check(stack, target)
    result = None
    try:
        with transaction.atomic():
            rollback.restore_definition(stack, target)
            result = plan_deploy(stack, pins)
            raise _Undo
    except _Undo:
        pass
    stack.refresh_from_db()
    return result


def take_plan(deployment, plan):
    """Record the plan (engine.plan.recorded) about to be applied. A deploy
    confirmed on a plan (options["plan"], its id) applies that plan or none: when
    the state changed since (a row edited, a container died), it raises
    PlanChanged and keeps the new plan, for the operator to review."""
    confirmed, lines = deployment.options.get("plan"), deployment.plan.get("lines") or []
    deployment.plan = plan
    deployment.save(update_fields=["plan"])
    if confirmed and plan["id"] != confirmed:
        what = changed_lines(lines, plan["lines"]) if lines else ""
        raise PlanChanged("The plan changed since you confirmed it" + (f" ({what})" if what else "")
                          + ". Nothing was changed: review the new plan and deploy again.")
