"""A stack's versions: each one's diff (rows changed, rendered files), and
restoring one without deploying."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from stacks import versions
from stacks.accounts import audit
from stacks.accounts.access import can_operate
from stacks.models import GitSource, StackVersion
from stacks.views import render_page, visible_stack


def version_detail(request, slug, number):
    stack = visible_stack(request, slug)
    version = get_object_or_404(StackVersion.objects.select_related("author"), stack=stack, number=number)
    rows, files = versions.diff(version)
    return render_page(request, "stacks/version_detail.html", {
        "stack": stack, "version": version, "previous": version.previous(), "rows": rows, "diffs": files,
        "deployments": list(version.deployments.order_by("-id")[:10]),
        "can_operate": can_operate(request.user, stack)})


@require_POST
def version_restore(request, slug, number):
    stack = visible_stack(request, slug, operate=True)
    version = get_object_or_404(StackVersion, stack=stack, number=number)
    if GitSource.objects.filter(stack=stack).exists():
        messages.error(request, f"{stack.slug} follows Git: edit it in Git (a rollback from a deployment's page "
                                "pins it until the next commit).")
        return redirect("version-detail", slug=stack.slug, number=number)
    new = versions.restore(stack, version, StackVersion.RESTORE, user=request.user)
    audit.record("restore", f"stack {stack.slug}", user=request.user, detail=f"v{version.number} as v{new.number}")
    messages.success(request, f"Restored v{version.number} as v{new.number}; nothing was deployed.")
    return redirect("version-detail", slug=stack.slug, number=new.number)
