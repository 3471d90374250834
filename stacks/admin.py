"""The Django admin: every definition editable, validated on save with the same
checks a render makes (promtool, amtool, Compose schema, cross-object checks)."""
import json

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from stacks import models as m
from stacks.validation import footprint, rule_tests
from stacks.validation.checks import check_rule, errors, validate_stack


class _Rollback(Exception):
    pass


def problems_introduced(instance, stack):
    """Problems the stack would have with `instance` saved, that it does not have
    now. The change is tried in a transaction that is always rolled back; the
    stack as it is now is validated only when the change shows errors."""
    # Other stacks' footprints are derived out here: derived in the rolled-back
    # transaction, they would be derived again on every save.
    footprint.ensure_current()
    after = []
    try:
        with transaction.atomic():
            instance.save()
            fresh = m.Stack.objects.get(pk=stack.pk if stack.pk else instance.pk)
            after = errors(validate_stack(fresh))
            raise _Rollback
    except _Rollback:
        pass
    if instance._state.adding:
        instance.pk = None
        instance.id = None
    if not after:
        return []
    # "Before" is the stack as stored, never the instance being edited: a Stack
    # form's instance already carries the new values.
    stored = m.Stack.objects.filter(pk=stack.pk).first() if stack.pk else None
    before = {str(p) for p in errors(validate_stack(stored))} if stored else set()
    return [p for p in after if str(p) not in before]


class ValidatedForm(forms.ModelForm):
    """Refuses a save that would make the stack's bundle invalid, with the
    tools' own messages."""

    def _post_clean(self):
        # Django builds the instance from the form and runs the model's own
        # validation here; the stack-wide checks follow on that instance.
        super()._post_clean()
        if self.errors:
            return
        instance = self.instance
        if isinstance(instance, m.Stack):
            stack = instance
        elif getattr(instance, "stack_id", None):
            stack = instance.stack
        else:
            return
        if isinstance(instance, m.AlertRule):
            message = check_rule(instance)
            if message:
                self.add_error("expr", f"promtool: {message}")
                return
            try:
                message = rule_tests.run(instance)
            except rule_tests.RuleTestsUnavailable:
                message = ""  # the deploy reports it as a warning
            if message:
                self.add_error("tests", f"promtool test rules: {message}")
                return
        adding = instance._state.adding
        problems = problems_introduced(instance, stack)
        instance._state.adding = adding
        for p in problems:
            field = self._field_for(p)
            self.add_error(field, p.message if field else f"{p.where}: {p.message}")

    # Which form field a stack-wide problem is about, when the tool's message
    # names the rendered key of a field of this form.
    FIELD_HINTS = {"group_by": "alert_group_by", "group_wait": "alert_group_wait",
                   "group_interval": "alert_group_interval", "repeat_interval": "alert_repeat_interval",
                   "scrape_interval": "scrape_interval", "evaluation_interval": "evaluation_interval"}

    def _field_for(self, problem):
        for hint, field in self.FIELD_HINTS.items():
            if field in self.fields and hint in problem.message:
                return field
        return None


class KeyValueWidget(forms.Widget):
    """A JSON object of strings (labels, annotations) as rows of key and value
    fields, with empty rows to add to; a row whose key is emptied goes."""

    def __init__(self, extra=2, attrs=None):
        super().__init__(attrs)
        self.extra = extra

    def render(self, name, value, attrs=None, renderer=None):
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except ValueError:
                value = {}
        pairs = list((value or {}).items()) + [("", "")] * self.extra
        rows = format_html_join(
            "", '<tr><td><input name="{0}__key_{1}" value="{2}" aria-label="key" size="20"></td>'
                '<td><input name="{0}__value_{1}" value="{3}" aria-label="value" size="50"></td></tr>',
            ((name, i, k, v) for i, (k, v) in enumerate(pairs)))
        return format_html('<table class="key-value" id="{}"><thead><tr><th>key</th><th>value</th></tr></thead>'
                           '<tbody>{}</tbody></table><input type="hidden" name="{}__count" value="{}">',
                           (attrs or {}).get("id", name), rows, name, len(pairs))

    def value_from_datadict(self, data, files, name):
        if f"{name}__count" not in data:
            return data.get(name)
        out = {}
        for i in range(min(int(data.get(f"{name}__count") or 0), 500)):
            key = (data.get(f"{name}__key_{i}") or "").strip()
            if key:
                out[key] = data.get(f"{name}__value_{i}", "")
        return json.dumps(out)

    def value_omitted_from_data(self, data, files, name):
        return f"{name}__count" not in data and name not in data


class AlertRuleForm(ValidatedForm):
    class Meta:
        widgets = {"labels": KeyValueWidget(), "annotations": KeyValueWidget()}


# A URL typed without its scheme (a receiver's webhook) is taken as https://, the
# default of Django 6.0.
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class ValidatedAdmin(admin.ModelAdmin):
    form = ValidatedForm
    formfield_overrides = URL_FIELDS


def inline(model, stacked=False, collapsed=False, **attrs):
    """An inline of the stack's page: tabular, or stacked for rows with long
    fields (collapsed when they would fill the page)."""
    base = admin.StackedInline if stacked else admin.TabularInline
    attrs = {"model": model, "extra": 0, "show_change_link": True, "formfield_overrides": URL_FIELDS,
             **({"classes": ["collapse"]} if collapsed else {}), **attrs}
    return type(f"{model.__name__}Inline", (base,), attrs)


STACK_INLINES = [
    inline(m.Service, stacked=True, collapsed=True),
    inline(m.Network),
    inline(m.Volume),
    inline(m.ScrapeJob),
    inline(m.AlertRule, form=AlertRuleForm, fields=["group", "name", "expr", "for_duration", "severity", "labels", "annotations",
                                "enabled"]),
    inline(m.Receiver, stacked=True),
    inline(m.Route),
    inline(m.InhibitRule),
    inline(m.GrafanaDatasource),
    inline(m.GrafanaDashboard, stacked=True, collapsed=True),
    inline(m.LogRoute),
    inline(m.StackFile, stacked=True, collapsed=True),
]


@admin.register(m.Stack)
class StackAdmin(ValidatedAdmin):
    """One page per stack: the stack and everything in it, as inlines. The whole
    change is checked as a render would check it once every inline is saved, and
    undone (nothing kept) when it brings new errors."""

    list_display = ["slug", "name", "engine", "allow_host_access", "updated"]
    search_fields = ["slug", "name"]
    inlines = STACK_INLINES

    def get_readonly_fields(self, request, obj=None):
        # Host-level power (privileged, host namespaces, the Docker socket) is an
        # admin's decision: operators are staff, but not superusers.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("allow_host_access")
        return fields

    def save_model(self, request, obj, form, change):
        request._stack_errors_before = (
            {str(p) for p in errors(validate_stack(m.Stack.objects.get(pk=obj.pk)))} if change else set())
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        stack = m.Stack.objects.get(pk=form.instance.pk)
        new = [p for p in errors(validate_stack(stack)) if str(p) not in request._stack_errors_before]
        if new:
            raise _StackRefused(new)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except _StackRefused as refused:  # everything the page saved is rolled back
            for p in refused.problems:
                self.message_user(request, f"Not saved: {p.where}: {p.message}", messages.ERROR)
            return HttpResponseRedirect(request.path)


class _StackRefused(Exception):
    def __init__(self, problems):
        super().__init__(problems)
        self.problems = problems


@admin.register(m.AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """The audit log, for admins: read only."""

    list_display = ["at", "username", "action", "target", "address"]
    list_filter = ["action"]
    search_fields = ["username", "target", "detail"]
    date_hierarchy = "at"

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.Service)
class ServiceAdmin(ValidatedAdmin):
    list_display = ["name", "stack", "role", "image", "replicas"]
    list_filter = ["stack", "role"]
    search_fields = ["name", "image"]


@admin.register(m.AlertRule)
class AlertRuleAdmin(ValidatedAdmin):
    form = AlertRuleForm
    list_display = ["name", "stack", "group", "severity", "for_duration", "enabled"]
    list_filter = ["stack", "severity", "enabled", "group"]
    search_fields = ["name", "expr"]
    list_editable = ["enabled"]


@admin.register(m.ScrapeJob)
class ScrapeJobAdmin(ValidatedAdmin):
    list_display = ["job_name", "stack", "metrics_path"]
    list_filter = ["stack"]


@admin.register(m.Receiver)
class ReceiverAdmin(ValidatedAdmin):
    list_display = ["name", "stack", "kind", "is_default"]


@admin.register(m.Route)
class RouteAdmin(ValidatedAdmin):
    list_display = ["__str__", "stack", "order"]


@admin.register(m.InhibitRule)
class InhibitRuleAdmin(ValidatedAdmin):
    list_display = ["__str__", "stack"]


@admin.register(m.Network)
class NetworkAdmin(ValidatedAdmin):
    list_display = ["key", "stack", "name", "external"]


@admin.register(m.Volume)
class VolumeAdmin(ValidatedAdmin):
    list_display = ["key", "stack", "external"]


@admin.register(m.StackFile)
class StackFileAdmin(ValidatedAdmin):
    list_display = ["path", "stack"]


@admin.register(m.GrafanaDatasource)
class GrafanaDatasourceAdmin(ValidatedAdmin):
    list_display = ["name", "stack", "type", "url", "is_default"]


@admin.register(m.GrafanaDashboard)
class GrafanaDashboardAdmin(ValidatedAdmin):
    list_display = ["title", "stack", "slug"]


@admin.register(m.LogRoute)
class LogRouteAdmin(ValidatedAdmin):
    list_display = ["tag_pattern", "index", "stack", "order"]


@admin.register(m.Secret)
class SecretAdmin(admin.ModelAdmin):
    # Values are never shown; a secret can be created (generated) or deleted.
    list_display = ["name", "created"]
    fields = ["name"]

    def save_model(self, request, obj, form, change):
        if not obj.value:
            import secrets

            obj.value = secrets.token_urlsafe(24)
        super().save_model(request, obj, form, change)


@admin.register(m.Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["id", "stack", "action", "status", "requested_by", "created"]
    list_filter = ["stack", "status", "action"]
    readonly_fields = [f.name for f in m.Deployment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(m.Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "severity", "stack", "service", "starts_at", "resolved_at"]
    list_filter = ["status", "severity", "stack"]
    search_fields = ["name", "fingerprint"]
    readonly_fields = [f.name for f in m.Alert._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(m.Engine)
class EngineAdmin(admin.ModelAdmin):
    # TLS material is not editable here (and never shown): `manage.py engine add` reads it from files.
    list_display = ["name", "docker_host", "swarm", "uses_tls"]
