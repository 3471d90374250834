"""Import a stack by pasting a docker-compose.yml; problems shown next to their lines."""
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize

from stacks import versions
from stacks.accounts import audit
from stacks.adoption.importer import import_and_validate, import_project
from stacks.adoption.project_dir import MAX_TOTAL_BYTES, read_archive
from stacks.lib.yaml_lines import annotate
from stacks.models import StackVersion


class ImportForm(forms.Form):
    slug = forms.SlugField(label="Stack name", max_length=63)
    compose = forms.CharField(label="docker-compose.yml", required=False,
                              widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}))
    archive = forms.FileField(label="or the project's directory as a .zip or .tar.gz", required=False,
                              help_text="Its Compose file and every file the services mount or build from.")

    allow_host_access = forms.BooleanField(
        label="Allow host access", required=False,
        help_text="Admins only: approves, in your name, every option of this file that reaches outside the "
                  "stack (privileged, capabilities, host namespaces, bind mounts outside its directory…).")

    def __init__(self, *args, admin=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not admin:
            del self.fields["allow_host_access"]

    def clean(self):
        data = super().clean()
        if not data.get("compose") and not data.get("archive"):
            raise forms.ValidationError("Paste a Compose file or upload the project's directory.")
        return data


def stack_import(request):
    if request.method == "POST" and not request.user.has_perm("stacks.add_stack"):
        raise PermissionDenied("Operators only.")
    form = ImportForm(request.POST or None, request.FILES or None, admin=request.user.is_superuser)
    numbered, general = [], []
    if request.method == "POST" and form.is_valid():
        text, slug, upload = form.cleaned_data["compose"], form.cleaned_data["slug"], form.cleaned_data["archive"]
        host = bool(form.cleaned_data.get("allow_host_access"))
        problems = []
        try:
            if upload:
                if upload.size > MAX_TOTAL_BYTES:
                    raise ValueError(f"{upload.name}: {upload.size} bytes, over the limit of {MAX_TOTAL_BYTES}.")
                project = read_archive(upload.read(), upload.name)
                text = project.compose_text
                stack, problems = import_project(project, slug, allow_host_access=host, approver=request.user,
                                                 via="import page")
            else:
                stack, problems = import_and_validate(text, slug, allow_host_access=host, approver=request.user,
                                                      via="import page")
        except ValueError as exc:  # the schema's problems come joined by "; "
            stack, problems = None, str(exc).split("; ")
        else:
            if stack is not None:
                for p in problems:
                    messages.warning(request, p)
                audit.record("import", f"stack {stack.slug}", request=request)
                versions.record(stack, StackVersion.WEB, user=request.user, note="import")
                n = stack.services.count()
                messages.success(request, f"Imported stack {stack.slug} with {n} service{pluralize(n)}.")
                return redirect(stack.get_absolute_url())
        numbered, general = annotate(text, problems)
    return render(request, "stacks/import.html", {"form": form, "numbered": numbered, "general": general,
                                                  "can_import": request.user.has_perm("stacks.add_stack")})
