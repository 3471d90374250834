"""A stack's versions: each one's diff (rows changed, rendered files), and
restoring one without deploying."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from stacks import versions
from stacks.accounts import audit
from stacks.models import Stack, StackVersion
from stacks.views import render_page


def version_detail(request, slug, number):
    stack = get_object_or_404(Stack, slug=slug)
    version = get_object_or_404(StackVersion.objects.select_related("author"), stack=stack, number=number)
    rows, files = versions.diff(version)
    return render_page(request, "stacks/version_detail.html", {
        "stack": stack, "version": version, "previous": version.previous(), "rows": rows, "diffs": files,
        "deployments": list(version.deployments.order_by("-id")[:10]),
        "can_operate": request.user.has_perm("stacks.deploy_stack")})


@require_POST
def version_restore(request, slug, number):
    if not request.user.has_perm("stacks.deploy_stack"):
        raise PermissionDenied("Operators only.")
    stack = get_object_or_404(Stack, slug=slug)
    version = get_object_or_404(StackVersion, stack=stack, number=number)
    new = versions.restore(stack, version, StackVersion.RESTORE, user=request.user)
    audit.record("restore", f"stack {stack.slug}", user=request.user, detail=f"v{version.number} as v{new.number}")
    messages.success(request, f"Restored v{version.number} as v{new.number}; nothing was deployed.")
    return redirect("version-detail", slug=stack.slug, number=new.number)
