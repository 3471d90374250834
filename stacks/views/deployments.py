"""An operation's page: steps pushed while it runs (its `deployment:ID` topic),
rendered files and the diff against the previous deployment once it ends."""
import difflib

from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from stacks.accounts.access import can_operate, visible_stacks
from stacks.models import Deployment
from stacks.views import render_page


def file_diffs(deployment, previous):
    old = previous.files if previous else {}
    diffs = []
    for path in sorted(set(old) | set(deployment.files)):
        a, b = old.get(path, ""), deployment.files.get(path, "")
        if a == b:
            continue
        lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), f"a/{path}", f"b/{path}", lineterm="", n=2))
        diffs.append({"path": path, "lines": lines})
    return diffs


def deployment_detail(request, pk):
    deployment = get_object_or_404(Deployment.objects.select_related("stack", "requested_by")
                                   .filter(stack__in=visible_stacks(request.user)), pk=pk)
    # While it runs, the fragment is its steps; once done, the whole outcome
    # (diff, rendered files) without its data-live: nothing more to hear.
    context = page_context(deployment, request.user) if deployment.is_done or not request.htmx else \
        {"deployment": deployment, "steps": list(deployment.steps.all())}
    return render_page(request, "stacks/deployment_detail.html", context, partial="progress")


def page_context(deployment, user, steps=None):
    """What the page shows; the plan now and the rollback only to an operator of
    this stack (per-stack roles, not the global permission)."""
    operates = can_operate(user, deployment.stack)
    previous = deployment.previous() if deployment.action == "deploy" else None
    last = deployment.stack.deployments.filter(action="deploy", status=deployment.SUCCEEDED).order_by("-id").first()
    return {"deployment": deployment, "steps": list(deployment.steps.all()) if steps is None else steps,
            "previous": previous, "diffs": file_diffs(deployment, previous) if deployment.files else [],
            # Every past successful deploy that applied a version (not the one running now).
            "can_operate": operates,
            "can_roll_back": (operates and deployment.action == "deploy" and deployment.finished_ok and deployment.version_id
                              and last is not None and last.pk != deployment.pk)}


def deployment_page(request, deployment):
    """The whole page, as the answer to the HTMX request that started the operation:
    htmx swaps its body in and shows its address (HX-Push-Url), one round trip
    fewer than redirecting the browser to it."""
    response = render(request, "stacks/deployment_detail.html", page_context(deployment, request.user))
    response["HX-Retarget"], response["HX-Reswap"] = "body", "innerHTML"
    response["HX-Push-Url"] = reverse("deployment-detail", args=[deployment.pk])
    return response
