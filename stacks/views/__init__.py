"""Pages: full page for a normal request, the named partial for an HTMX one."""
from django.shortcuts import render


def render_page(request, template, context, partial=None):
    """One place decides fragment or page (NetBox's htmx_partial)."""
    if partial and request.htmx and not request.htmx.boosted:
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)
