"""Import a stack by pasting a docker-compose.yml; problems shown next to their lines."""
import re

import yaml
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from stacks import audit
from stacks.importer import import_compose
from stacks.validate import validate_stack


class ImportForm(forms.Form):
    slug = forms.SlugField(label="Stack name", max_length=63)
    compose = forms.CharField(label="docker-compose.yml", widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}))


def service_lines(text):
    """{service name: line number} from the YAML's own marks."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "services" and isinstance(value, yaml.MappingNode):
                for skey, _ in value.value:
                    lines[skey.value] = skey.start_mark.line + 1
    return lines


def annotate(text, problems):
    """The pasted text as numbered lines, each with the problems that concern it."""
    where = service_lines(text)
    by_line = {}
    for p in problems:
        m = re.match(r"line (\d+)", p)
        line = int(m.group(1)) if m else None
        if line is None:
            svc = re.match(r"(?:error: |warning: )?service ([a-z0-9_-]+)", p)
            line = where.get(svc.group(1)) if svc else None
        by_line.setdefault(line or 0, []).append(p)
    numbered = [{"n": i, "text": t, "problems": by_line.get(i, [])} for i, t in enumerate(text.splitlines(), 1)]
    return numbered, by_line.get(0, [])


def stack_import(request):
    if request.method == "POST" and not request.user.has_perm("stacks.add_stack"):
        raise PermissionDenied("Operators only.")
    form = ImportForm(request.POST or None)
    numbered, general = [], []
    if request.method == "POST" and form.is_valid():
        text, slug = form.cleaned_data["compose"], form.cleaned_data["slug"]
        problems = []
        try:
            stack = import_compose(text, slug)
        except ValueError as exc:
            problems = [str(exc)]
        else:
            problems = [str(p) for p in validate_stack(stack)]
            if any(p.startswith("error") for p in problems):
                stack.delete()  # nothing is kept from a file that does not validate
            else:
                for p in problems:
                    messages.warning(request, p)
                audit.record("import", f"stack {stack.slug}", request=request)
                messages.success(request, f"Imported stack {stack.slug} with {stack.services.count()} services.")
                return redirect(stack.get_absolute_url())
        numbered, general = annotate(text, problems)
    return render(request, "stacks/import.html", {"form": form, "numbered": numbered, "general": general,
                                                  "can_import": request.user.has_perm("stacks.add_stack")})
