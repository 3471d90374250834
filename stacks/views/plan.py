"""The plan of a deploy, shown before the operator confirms it. A worker computes
it (the web process has no engine); the fragment polls until it is there."""
import json
import uuid

from django_htmx.http import HttpResponseStopPolling

from stacks.seams import broker
from stacks.tasks import compute_plan, plan_key
from stacks.views import render_page, visible_stack


def confirmed_plan(stack, token, plan_id):
    """The plan an operator confirmed, as the worker computed it for their page
    (kept in Redis under the page's token); {} when it is gone or not that one.
    Only the id binds the deploy; the lines name what changed if it is refused."""
    try:
        raw = broker.get(plan_key(token)) if token else None
    except broker.BrokerError:
        raw = None
    plan = (json.loads(raw).get("plan") or {}) if raw else {}
    return plan if plan.get("id") == plan_id and plan.get("project") == stack.slug else {}


def stack_plan(request, slug):
    stack = visible_stack(request, slug, operate=True)
    token = request.GET.get("token", "")
    rollback_to = request.GET.get("rollback_to", "")
    rollback_to = int(rollback_to) if rollback_to.isdigit() else None
    update = request.GET.get("update") == "1" and rollback_to is None
    context = {"stack": stack, "token": token, "result": None, "error": "", "rollback_to": rollback_to,
               "update": update}
    if not token:
        context["token"] = uuid.uuid4().hex
        try:
            compute_plan.delay(stack.pk, context["token"], *([rollback_to] if rollback_to else []),
                               **({"update": True} if update else {}))
        except Exception as exc:  # noqa: BLE001 — the broker is down: say so
            context["error"] = f"The task queue (Redis) is unreachable, so no plan can be computed: {exc}"
    else:
        try:
            raw = broker.get(plan_key(token))
        except broker.BrokerError as exc:
            raw, context["error"] = None, str(exc)
        if raw:
            context["result"] = result = json.loads(raw)
            context["error"] = result.get("error", "")
    response = render_page(request, "stacks/plan.html", context, partial="plan")
    if request.htmx and (context["result"] or context["error"]):
        response.status_code = HttpResponseStopPolling.status_code
    return response
