"""Pages: full page for a normal request, the named partial for an HTMX one."""
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from stacks.accounts.access import can_operate, visible_stacks


def render_page(request, template, context, partial=None):
    """One place decides fragment or page (NetBox's htmx_partial)."""
    if partial and request.htmx and not request.htmx.boosted:
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)


def visible_stack(request, slug, operate=False, queryset=None):
    """The stack named `slug` if this user may see it (404 otherwise, as for one
    that does not exist); with `operate`, 403 unless the user may operate it."""
    visible = visible_stacks(request.user)
    qs = visible if queryset is None else queryset.filter(pk__in=visible.values("pk"))
    stack = get_object_or_404(qs, slug=slug)
    if operate and not can_operate(request.user, stack):
        raise PermissionDenied("Operators of this stack only.")
    return stack
