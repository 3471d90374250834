"""Stacks: list, one stack's definition and state, plan, deploy, roll back."""
import json
import uuid

from django.db.models import Count, Q
from django.urls import reverse
from ninja import Path, Query, Router, Status
from ninja.errors import HttpError

from stacks.accounts.access import can_operate, operable_stacks, visible_stacks
from stacks.api.schemas import (
    Accepted,
    DeployIn,
    Error,
    PlanAccepted,
    PlanOut,
    RollbackIn,
    Slug,
    StackDetail,
    StackOut,
)
from stacks.models import Busy, Stack
from stacks.operations import rollback
from stacks.seams import broker
from stacks.tasks import compute_plan, plan_key, request_operation

router = Router(tags=["stacks"])
Token = Path(..., min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")


def _stack(request, slug, operate=False):
    token = request.api_token
    stack = visible_stacks(request.user, token).select_related("engine").filter(slug=slug).first()
    if stack is None:
        if Stack.objects.filter(slug=slug).exists():  # there, but not for this token: say it is refused
            raise HttpError(403, f"Not allowed: this token may not see {slug}.")
        raise HttpError(404, f"No stack {slug!r}.")
    if operate and not can_operate(request.user, stack, token):
        why = "this token is read-only" if not token.write else f"it may not operate {slug}"
        raise HttpError(403, f"Not allowed: {why}.")
    return stack


def _summary(stack, operable):
    last = stack.deployments.order_by("-id").first()
    return {"slug": stack.slug, "name": stack.name, "engine": stack.engine.name,
            "services": getattr(stack, "n_services", None) or stack.services.count(),
            "last_operation": last.pk if last else None, "last_status": last.status if last else None,
            "firing": getattr(stack, "n_firing", 0), "role": "operator" if stack.pk in operable else "viewer"}


@router.get("/stacks", response={200: list[StackOut], 401: Error}, summary="Stacks this token may see")
def list_stacks(request):
    token = request.api_token
    operable = set(operable_stacks(request.user, token).values_list("pk", flat=True))
    stacks = (visible_stacks(request.user, token).select_related("engine").order_by("slug")
              .annotate(n_services=Count("services", distinct=True),
                        n_firing=Count("alerts", filter=Q(alerts__status="firing"), distinct=True)))
    return [_summary(s, operable) for s in stacks]


@router.get("/stacks/{slug}", response={200: StackDetail, 401: Error, 403: Error, 404: Error},
            summary="A stack's definition and state")
def get_stack(request, slug: str = Slug()):
    stack = _stack(request, slug)
    operable = {stack.pk} if can_operate(request.user, stack, request.api_token) else set()
    out = _summary(stack, operable)
    out["firing"] = stack.alerts.filter(status="firing").count()
    services = []
    for s in stack.services.select_related("health").order_by("order", "name"):
        health = getattr(s, "health", None)
        services.append({"name": s.name, "role": s.role, "image": s.image, "replicas": s.replicas,
                         "ports": s.ports, "networks": s.networks, "environment": sorted(s.environment or {}),
                         "state": health.state if health else "unknown",
                         "health": (health.docker_health or ("ok" if health.probe_ok else "")) if health else "",
                         "running": health.running if health else 0})
    out.update(description=stack.description, networks=[n.key for n in stack.networks.order_by("key")],
               volumes=[v.key for v in stack.volumes.order_by("key")], services_detail=services,
               operations=[{"id": d.pk, "action": d.action, "status": d.status, "created": d.created}
                           for d in stack.deployments.order_by("-id")[:10]])
    return out


@router.post("/stacks/{slug}/plan", response={202: PlanAccepted, 401: Error, 403: Error, 404: Error, 503: Error},
             summary="Compute what a deploy would do (a worker does it; read the result at url)")
def plan_stack(request, slug: str = Slug()):
    stack = _stack(request, slug, operate=True)
    token = uuid.uuid4().hex
    try:
        compute_plan.delay(stack.pk, token)
    except Exception as exc:  # noqa: BLE001 — the broker is down: say so, in a 503
        raise HttpError(503, f"The task queue (Redis) is unreachable: {exc}") from None
    return Status(202, {"token": token, "url": reverse("api-1:get_plan", args=[slug, token])})


@router.get("/stacks/{slug}/plan/{token}", response={200: PlanOut, 401: Error, 403: Error, 404: Error, 503: Error},
            summary="The plan, once the worker has computed it (ready: false until then)")
def get_plan(request, slug: str = Slug(), token: str = Token):
    stack = _stack(request, slug, operate=True)
    try:
        raw = broker.get(plan_key(token))
    except broker.BrokerError as exc:
        raise HttpError(503, str(exc)) from None
    if not raw:
        return {"ready": False}
    result = json.loads(raw)
    if result.get("plan") and result["plan"].get("project") not in (None, stack.slug):
        raise HttpError(404, "No such plan for this stack.")
    return {"ready": True, **result}


@router.post("/stacks/{slug}/deploy", response={202: Accepted, 401: Error, 403: Error, 404: Error, 409: Error},
             summary="Deploy (queued; follow the operation)")
def deploy_stack(request, slug: str = Slug(), options: Query[DeployIn] = None):
    stack = _stack(request, slug, operate=True)
    options = {"plan": options.plan} if options and options.plan else {}
    try:
        deployment = request_operation(stack, "deploy", user=request.user, options=options)
    except Busy as exc:
        raise HttpError(409, str(exc)) from None
    return Status(202, {"id": deployment.pk, "status": deployment.status,
                 "url": reverse("api-1:get_operation", args=[deployment.pk]),
                 "events": reverse("api-1:operation_events", args=[deployment.pk])})


@router.post("/stacks/{slug}/rollback",
             response={202: Accepted, 400: Error, 401: Error, 403: Error, 404: Error, 409: Error},
             summary="Roll back to a deployment (queued; follow the operation)")
def rollback_stack(request, options: Query[RollbackIn], slug: str = Slug()):
    """Restores the definition that deployment applied, as a new version, and
    deploys it with the images it ran; refused (400) when it cannot be."""
    stack = _stack(request, slug, operate=True)
    try:
        rollback.target_of(stack, options.to)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    extra = {"plan": options.plan} if options.plan else {}
    try:
        deployment = request_operation(stack, "deploy", user=request.user, options={"rollback_to": options.to, **extra})
    except Busy as exc:
        raise HttpError(409, str(exc)) from None
    return Status(202, {"id": deployment.pk, "status": deployment.status,
                 "url": reverse("api-1:get_operation", args=[deployment.pk]),
                 "events": reverse("api-1:operation_events", args=[deployment.pk])})
