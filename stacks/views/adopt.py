"""Adopt a Compose project that runs on an engine but not in the panel (the
overview lists them); one on another host is adopted by that host's worker."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from stacks import versions
from stacks.engine.errors import EngineError
from stacks.models import Engine, StackVersion
from stacks.tasks import adopt_anywhere


@require_POST
def stack_adopt(request):
    if not request.user.has_perm("stacks.add_stack"):
        raise PermissionDenied("Operators only.")
    project = request.POST.get("project", "")
    engine = Engine.objects.filter(name=request.POST.get("engine") or "local").first()
    if engine is None:
        messages.error(request, f"No engine named {request.POST.get('engine')!r}.")
        return redirect("overview")
    try:
        stack, problems, kept = adopt_anywhere(engine, project)
    except (ValueError, EngineError) as exc:
        messages.error(request, str(exc))
        return redirect("overview")
    if stack is None:
        for p in problems:
            messages.error(request, f"{project}: {p}")
        return redirect("overview")
    versions.record(stack, StackVersion.WEB, user=request.user, note=f"adopt {project}")
    for p in problems:
        messages.warning(request, p)
    messages.success(request, f"Adopted {project}: {stack.services.count()} services; "
                              f"left running as they are: {', '.join(kept) or 'none'}.")
    return redirect(stack.get_absolute_url())
