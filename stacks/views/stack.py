"""A stack's page, and the operator actions on it (deploy, stop, down, restart, delete)."""
from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from stacks.accounts.access import can_operate
from stacks.adoption import git_sync
from stacks.models import Busy, Stack, StackWatch
from stacks.monitoring import updates
from stacks.monitoring.timeline import stack_timeline
from stacks.notifications import deliver, drift, events
from stacks.operations import rollback
from stacks.operations.follow import wait
from stacks.operations.verbs import VERBS
from stacks.tasks import request_operation
from stacks.validation import containment
from stacks.views import render_page, visible_stack
from stacks.views.deployments import deployment_page
from stacks.views.plan import confirmed_plan


def stack_detail(request, slug):
    stack = visible_stack(request, slug, queryset=Stack.objects.select_related("engine", "moved_from"))
    services = list(stack.services.select_related("health").order_by("order", "name"))
    deployments = list(stack.deployments.select_related("requested_by").order_by("-id")[:20])
    active = next((d for d in deployments if not d.is_done), None)
    context = {
        "stack": stack, "services": services, "deployments": deployments, "active": active,
        "firing": stack.alerts.filter(status="firing").count(),
        "can_operate": can_operate(request.user, stack),
        "timeline": stack_timeline(stack) if not request.htmx else [],
        "host_consents": list(stack.host_consents.select_related("approved_by")) if not request.htmx else [],
        "host_pending": containment.pending(stack) if not request.htmx else [],
        "versions": list(stack.versions.select_related("author")[:20]),
        "ran": ran_now(stack),
        "watch": StackWatch.objects.filter(stack=stack).first(),
        "git": git_sync.state(stack) if not request.htmx else None,
    }
    found = {i.service: i for i in updates.updates_of(stack)}
    context["updates"] = [i for i in found.values() if i.available]
    context["can_apply_updates"] = any(i.moved for i in context["updates"])
    for svc in services:
        svc.ran = context["ran"].get(svc.name)
        svc.update = found.get(svc.name)
    if not request.htmx:
        context.update(pending=drift.pending_changes(stack), open_events=list(events.open_of(stack)),
                       event_deliveries=list(deliver.last_deliveries(stack)))
    part = "history" if request.GET.get("part") == "history" else "services"
    return render_page(request, "stacks/stack_detail.html", context, partial=part)


def ran_now(stack):
    """{service: image record} of the last deploy that succeeded: what runs."""
    last = stack.deployments.filter(action="deploy", status="succeeded").exclude(images={}).order_by("-id").first()
    return last.images if last else {}


ACTION_PATIENCE = 0.5  # seconds


@require_POST
def stack_action(request, slug, action):
    stack = visible_stack(request, slug, operate=True)
    if action not in VERBS or VERBS[action].removes_stack:  # delete: its own page asks first
        return HttpResponseBadRequest("Unknown action.")
    options = {}
    if action == "restart":
        service = request.POST.get("service", "")
        if not stack.services.filter(name=service).exists():
            return HttpResponseBadRequest("Unknown service.")
        options["service"] = service
    if action == "down":
        options["volumes"] = request.POST.get("volumes") == "on"
    confirmed = None
    if action == "deploy" and request.POST.get("plan"):  # the plan shown to the operator binds the deploy
        options["plan"] = request.POST["plan"][:64]
        confirmed = confirmed_plan(stack, request.POST.get("token", ""), options["plan"])
    if action == "deploy" and request.POST.get("rollback_to", "").isdigit():
        options["rollback_to"] = int(request.POST["rollback_to"])
    try:
        if action == "deploy" and request.POST.get("update"):  # the updates found: only their services change
            options["update"] = updates.pins(stack, request.POST.getlist("service") or None)
            if not options["update"]:
                raise ValueError(f"{stack.slug} has no image update to apply.")
        if "rollback_to" in options:
            rollback.target_of(stack, options["rollback_to"])
        deployment = request_operation(stack, action, user=request.user, options=options, plan=confirmed)
    except (Busy, ValueError) as exc:
        messages.error(request, str(exc))
        target = stack.get_absolute_url()
    else:
        # A quick operation (a no-op redeploy) is over before the page would load:
        # wait for it briefly, so that the next page already shows the outcome.
        wait(deployment, ACTION_PATIENCE)
        if request.htmx:
            return deployment_page(request, deployment)
        target = deployment_url(deployment)
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


def deployment_url(deployment):
    return reverse("deployment-detail", args=[deployment.pk])


def stack_delete(request, slug):
    """GET: what deleting does, and the question; POST: the delete operation."""
    stack = visible_stack(request, slug, operate=True, queryset=Stack.objects.select_related("engine"))
    if request.method != "POST":
        context = {"stack": stack, "services": stack.services.order_by("name"),
                   "volumes": stack.volumes.filter(external=False).order_by("key"), "alerts": stack.alerts.count()}
        return render_page(request, "stacks/stack_delete.html", context)
    keep = request.POST.get("keep_volumes") == "on"
    try:
        deployment = request_operation(stack, "delete", user=request.user, options={"keep_volumes": keep})
    except Busy as exc:
        messages.error(request, str(exc))
        return redirect(stack.get_absolute_url())
    wait(deployment, ACTION_PATIENCE)
    messages.success(request, f"Deleting {stack.slug} (operation #{deployment.pk}): its containers are "
                              "brought down, then its rows and files go. It leaves this list when done.")
    return redirect("overview")
