"""Drift shown: "changes not deployed" (the rows render to another bundle than
the last successful deploy shipped) and "drifted" (the engine differs from what
that deploy left: containers stopped, removed or changed outside the panel),
each an event while it lasts. StackWatch keeps the answers for the overview."""
import logging

from django.utils import timezone

from stacks.engine.backend import get_backend
from stacks.engine.connect import using
from stacks.engine.errors import EngineError
from stacks.engine.plan import Desired
from stacks.models import Deployment, Event, StackWatch
from stacks.notifications import events
from stacks.render import render_bundle

log = logging.getLogger(__name__)


def last_operation(stack):
    return stack.deployments.filter(status=Deployment.SUCCEEDED).order_by("-id").first()


def deployed_hash(stack):
    last = (stack.deployments.filter(action="deploy", status=Deployment.SUCCEEDED).order_by("-id")
            .values_list("bundle_hash", flat=True).first())
    return last or ""


def pending_changes(stack):
    """Whether the rows render to another bundle than the last successful deploy shipped (no writes)."""
    deployed = deployed_hash(stack)
    return bool(deployed) and render_bundle(stack).hash != deployed


def note_rendered(stack, bundle=None):
    """Render (or take the bundle just rendered), keep its hash and open or close
    the "changes not deployed" event; returns whether changes wait for a deploy."""
    bundle = bundle or render_bundle(stack)
    watch = StackWatch.of(stack)
    if watch.rendered_hash != bundle.hash:
        watch.rendered_hash = bundle.hash
        watch.save(update_fields=["rendered_hash"])
    deployed = deployed_hash(stack)
    pending = bool(deployed) and deployed != bundle.hash
    if pending:
        events.open_event(stack, Event.NOT_DEPLOYED, f"Changes to {stack.slug} not deployed",
                          detail="The definition was edited since the last deploy.")
    else:
        events.close_event(stack, Event.NOT_DEPLOYED, detail="deployed" if deployed else "")
    return pending


def deployed(deployment):
    """A successful deploy shipped what the rows render to: nothing waits."""
    StackWatch.objects.update_or_create(stack=deployment.stack, defaults={"rendered_hash": deployment.bundle_hash})
    events.close_event(deployment.stack, Event.NOT_DEPLOYED, detail=f"deployed by #{deployment.pk}")


def check_engine_drift(stack, bundle=None, now=None):
    """Plan the last deployed definition against the engine: anything to do means
    the engine drifted. Only while no changes wait (else the plan mixes both)."""
    now = now or timezone.now()
    watch = StackWatch.of(stack)
    last = last_operation(stack)
    bundle = bundle or render_bundle(stack)
    if last is None or last.action in ("stop", "down") or deployed_hash(stack) != bundle.hash:
        found = ""
    else:
        roles = dict(stack.services.values_list("name", "role"))
        desired = Desired.from_bundle(stack.slug, stack.directory, bundle, roles)
        with using(stack.engine):
            backend = get_backend(stack.engine.backend)
            plan = backend.plan(desired, backend.observe(desired))
        found = "" if plan.is_empty else plan.summary()
    watch.drift, watch.drift_checked = found, now
    watch.save(update_fields=["drift", "drift_checked"])
    if found:
        event, opened = events.open_event(stack, Event.DRIFT, f"{stack.slug} drifted from its last deploy",
                                          detail=f"A deploy would: {found}")
    else:
        events.close_event(stack, Event.DRIFT, detail="the engine matches the last deploy again")
    return found


def check(stack):
    """Both checks, one render."""
    bundle = render_bundle(stack)
    note_rendered(stack, bundle)
    try:
        check_engine_drift(stack, bundle)
    except EngineError as exc:
        log.warning("Drift check of %s: %s", stack.slug, exc)
