"""A stack's page, and the operator actions on it (deploy, stop, down, restart, delete)."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from stacks.accounts.roles import may_operate
from stacks.models import Busy, Stack
from stacks.monitoring.timeline import stack_timeline
from stacks.operations.follow import wait
from stacks.operations.verbs import VERBS
from stacks.tasks import request_operation
from stacks.validation import host_access
from stacks.views import render_page
from stacks.views.deployments import deployment_page
from stacks.views.plan import confirmed_plan


def stack_detail(request, slug):
    stack = get_object_or_404(Stack.objects.select_related("engine", "moved_from"), slug=slug)
    services = list(stack.services.select_related("health").order_by("order", "name"))
    deployments = list(stack.deployments.select_related("requested_by").order_by("-id")[:20])
    active = next((d for d in deployments if not d.is_done), None)
    context = {
        "stack": stack, "services": services, "deployments": deployments, "active": active,
        "firing": stack.alerts.filter(status="firing").count(),
        "can_operate": may_operate(request.user, stack),
        "timeline": stack_timeline(stack) if not request.htmx else [],
        "host_options": host_access.of_stack(stack, services),
    }
    part = "history" if request.GET.get("part") == "history" else "services"
    return render_page(request, "stacks/stack_detail.html", context, partial=part)


ACTION_PATIENCE = 0.5  # seconds


@require_POST
def stack_action(request, slug, action):
    stack = get_object_or_404(Stack, slug=slug)
    if not may_operate(request.user, stack):
        raise PermissionDenied("Operators only.")
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
    try:
        deployment = request_operation(stack, action, user=request.user, options=options, plan=confirmed)
    except Busy as exc:
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
    stack = get_object_or_404(Stack.objects.select_related("engine"), slug=slug)
    if not may_operate(request.user, stack):
        raise PermissionDenied("Operators only.")
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
