"""A stack's edit page: its Compose file, checked live as it is typed (the same
validation as a deploy), saved as rows; its alert rules, routes and files are a
click away in the admin."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from stacks.adoption import editing
from stacks.lib.yaml_lines import annotate
from stacks.views import visible_stack

RELATED = [("alertrule", "alert rules", "alert_rules"), ("scrapejob", "scrape jobs", "scrape_jobs"),
           ("receiver", "receivers", "receivers"), ("route", "routes", "routes"),
           ("stackfile", "files", "files")]


def stack_edit(request, slug):
    stack = visible_stack(request, slug, operate=True)
    text, problems, checked = editing.compose_text(stack), [], False
    if request.method == "POST":
        text = request.POST.get("compose", "").replace("\r\n", "\n")
        if request.POST.get("check"):
            problems, checked = editing.check(stack, text), True
        else:
            saved, problems = editing.save(stack, text, user=request.user)
            if saved:
                for p in problems:
                    messages.warning(request, p)
                messages.success(request, f"Saved {stack.slug}: deploy it to apply the change.")
                return redirect(stack.get_absolute_url())
            checked = True
    numbered, general = annotate(text, problems)
    context = {"stack": stack, "text": text, "numbered": numbered, "general": general, "checked": checked,
               "problems": problems, "errors": [p for p in problems if p.startswith("error")],
               "related": [{"label": label, "count": getattr(stack, attr).count(),
                            "url": reverse(f"admin:stacks_{model}_changelist") + f"?stack__id__exact={stack.pk}"}
                           for model, label, attr in RELATED],
               "stack_admin": reverse("admin:stacks_stack_change", args=[stack.pk])}
    if request.htmx and checked and request.method == "POST":
        return render(request, "stacks/stack_edit.html#problems", context)
    return render(request, "stacks/stack_edit.html", context)
