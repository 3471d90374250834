"""The Django admin: every definition editable, validated on save with the same
checks a render makes (promtool, amtool, Compose schema, cross-object checks)."""
import secrets as pysecrets

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from stacks import (
    admin_records,  # noqa: F401 (roles, tokens, destinations, events, registries: registered there)
    versions,
)
from stacks import models as m
from stacks.accounts import audit
from stacks.accounts.access import can_operate, can_view, operable_stacks, sees_all, visible_stacks
from stacks.admin_widgets import KeyValueWidget, RuleTestsField, RuleTestsWidget
from stacks.notifications import drift
from stacks.validation import containment, footprint, rule_tests
from stacks.validation.checks import check_rule, errors, validate_stack


class _Rollback(Exception):
    pass


def problems_introduced(instance, stack, admin_user=False):
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
    return [p for p in after if str(p) not in before and not (admin_user and containment.needs_consent(p))]


class ValidatedForm(forms.ModelForm):
    """Refuses a save that would make the stack's bundle invalid, with the
    tools' own messages. An admin's new host option is let through as pending
    (approved on the stack's host options page); an operator's is refused."""

    admin_user = False

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
        if stack.pk and m.GitSource.objects.filter(stack_id=stack.pk).exists():
            self.add_error(None, f"{stack.slug} follows Git ({stack.git.url}, {stack.git.branch}): edit it in Git.")
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
        problems = problems_introduced(instance, stack, self.admin_user)
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


class AlertRuleForm(ValidatedForm):
    class Meta:
        widgets = {"labels": KeyValueWidget(), "annotations": KeyValueWidget(), "tests": RuleTestsWidget()}
        field_classes = {"tests": RuleTestsField}


# A URL typed without its scheme (a receiver's webhook) is taken as https://, the
# default of Django 6.0.
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class StackScoped:
    """Roles per stack in the admin (stacks.accounts.access): a user with a role
    on some stacks only (staff, not in the global groups) sees their rows and, as
    their operator, edits them. Global roles keep Django's model permissions."""

    stack_path = "stack"  # how a row reaches its stack ("" for the Stack itself)

    def _stack_of(self, obj):
        return obj if not self.stack_path else getattr(obj, self.stack_path, None)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_all(request.user):
            return qs
        return qs.filter(**{f"{self.stack_path or 'pk'}__in": visible_stacks(request.user).values("pk")})

    def has_module_permission(self, request):
        return super().has_module_permission(request) or visible_stacks(request.user).exists()

    def has_view_permission(self, request, obj=None):
        if super().has_view_permission(request, obj):
            return True
        return visible_stacks(request.user).exists() if obj is None else can_view(request.user, self._stack_of(obj))

    def has_change_permission(self, request, obj=None):
        if super().has_change_permission(request, obj):
            return True
        if obj is None:
            return operable_stacks(request.user).exists()
        return can_operate(request.user, self._stack_of(obj))

    def has_add_permission(self, request, *args):
        # A new stack is a global operator's; a row inside one, its operators' too.
        if super().has_add_permission(request, *args):
            return True
        return bool(self.stack_path) and operable_stacks(request.user).exists()

    def has_delete_permission(self, request, obj=None):
        if super().has_delete_permission(request, obj):
            return True
        if not self.stack_path:
            return False
        return operable_stacks(request.user).exists() if obj is None else can_operate(request.user, obj.stack)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "stack" and not sees_all(request.user):
            kwargs["queryset"] = operable_stacks(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def follows_git(obj):
    """Whether `obj` (a stack, or a row of one) is defined in Git: read only here."""
    stack_id = obj.pk if isinstance(obj, m.Stack) else getattr(obj, "stack_id", None)
    return bool(stack_id) and m.GitSource.objects.filter(stack_id=stack_id).exists()


class ValidatedAdmin(StackScoped, admin.ModelAdmin):
    form = ValidatedForm
    formfield_overrides = URL_FIELDS

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and follows_git(obj))

    def has_delete_permission(self, request, obj=None):
        # A Git stack's rows come from its commit; the stack itself may be removed.
        ok = super().has_delete_permission(request, obj)
        return ok and not (obj is not None and not isinstance(obj, m.Stack) and follows_git(obj))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"admin_user": request.user.is_superuser})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        _note_rendered(form.instance)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _note_rendered(obj)


def _note_rendered(instance):
    """An edit is "changes not deployed" on the overview at once (the watch finds it later otherwise)."""
    stack = instance if isinstance(instance, m.Stack) else getattr(instance, "stack", None)
    if stack is not None and stack.pk and m.Stack.objects.filter(pk=stack.pk).exists():
        drift.note_rendered(m.Stack.objects.get(pk=stack.pk))


class InlineScoped:
    """An inline of the stack's page: its operators edit it (obj is the stack)."""

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or (obj is not None and can_view(request.user, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (obj is not None and can_operate(request.user, obj))

    has_add_permission = has_delete_permission = has_change_permission


class RoleInline(admin.TabularInline):
    """Who holds a role on this stack (a team or a user); given by admins."""

    model = m.StackRole
    extra = 0
    fields = ["group", "user", "role", "source"]
    readonly_fields = ["source"]
    autocomplete_fields = ["user", "group"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


def inline(model, stacked=False, collapsed=False, **attrs):
    """An inline of the stack's page: tabular, or stacked for rows with long
    fields (collapsed when they would fill the page)."""
    base = admin.StackedInline if stacked else admin.TabularInline
    if attrs.pop("scoped", True):
        base = type("ScopedInline", (InlineScoped, base), {})

    def writable(perm):
        def check(self, request, obj=None):
            return getattr(base, perm)(self, request, obj) and not (obj is not None and follows_git(obj))
        return check

    attrs = {"model": model, "extra": 0, "show_change_link": True, "formfield_overrides": URL_FIELDS,
             **({"classes": ["collapse"]} if collapsed else {}),
             **{perm: writable(perm) for perm in ("has_add_permission", "has_change_permission",
                                                  "has_delete_permission")}, **attrs}
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
    RoleInline,
]


class HostConsentInline(admin.TabularInline):
    """What an admin approved: read here, approved and revoked on the host options page."""

    model = m.HostConsent
    extra = 0
    fields = readonly_fields = ["service", "option", "approved_by", "approved_via", "approved_at"]
    verbose_name_plural = "host options approved by an admin"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.Stack)
class StackAdmin(ValidatedAdmin):
    stack_path = ""

    """One page per stack: the stack and everything in it, as inlines. The whole
    change is checked as a render would check it once every inline is saved, and
    undone (nothing kept) when it brings new errors."""

    list_display = ["slug", "name", "engine", "host_options", "updated"]
    search_fields = ["slug", "name"]
    inlines = [*STACK_INLINES, HostConsentInline]
    readonly_fields = ["host_options", "who_gets_an_alert"]

    @admin.display(description="who gets an alert")
    def who_gets_an_alert(self, obj):
        if not obj or not obj.pk:
            return "—"
        return format_html('<a href="{}">Test a label set against the deployed routes</a> (amtool)',
                           reverse("stack-routes", args=[obj.slug]))

    @admin.display(description="Host options")
    def host_options(self, obj):
        if not obj or not obj.pk:
            return "—"
        pending = containment.pending(obj)
        url = reverse("admin:stacks_stack_host_options", args=[obj.pk])
        return format_html('<a href="{}">{} pending, {} approved</a>', url, len(pending), obj.host_consents.count())

    def get_urls(self):
        return [path("<int:pk>/host-options/", self.admin_site.admin_view(self.host_options_view),
                     name="stacks_stack_host_options"), *super().get_urls()]

    def host_options_view(self, request, pk):
        """The host options of a stack: pending ones with an approve button, the
        approved ones with a revoke button. Host-level power is an admin's
        decision: operators are staff, but not superusers."""
        if not request.user.is_superuser:
            raise PermissionDenied("Only an admin approves host options.")
        stack = get_object_or_404(m.Stack, pk=pk)
        pending = containment.pending(stack)
        if request.method == "POST":
            if "revoke" in request.POST:
                gone = stack.host_consents.filter(pk=request.POST["revoke"]).first()
                if gone:
                    gone.delete()
                    audit.record("revoke host option", f"stack {stack.slug}", str(gone), request=request)
                    self.message_user(request, f"Revoked: {gone}")
            else:
                chosen = request.POST.getlist("approve")
                options = [o for o in pending if "all" in chosen or o.key in chosen]
                m.HostConsent.approve(stack, options, request.user, "admin")
                for o in options:
                    audit.record("approve host option", f"stack {stack.slug}", str(o), request=request)
                self.message_user(request, f"Approved {len(options)} host option(s) of {stack.slug}.")
            return HttpResponseRedirect(request.path)
        context = {**self.admin_site.each_context(request), "stack": stack, "opts": self.model._meta,
                   "pending": [(o, o.key) for o in pending],
                   "approved": stack.host_consents.select_related("approved_by"),
                   "title": f"Host options of {stack.slug}"}
        return TemplateResponse(request, "admin/stacks/host_options.html", context)

    def save_model(self, request, obj, form, change):
        request._stack_errors_before = (
            {str(p) for p in errors(validate_stack(m.Stack.objects.get(pk=obj.pk)))} if change else set())
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        admin.ModelAdmin.save_related(self, request, form, formsets, change)
        stack = m.Stack.objects.get(pk=form.instance.pk)
        new = [p for p in errors(validate_stack(stack)) if str(p) not in request._stack_errors_before
               and not (request.user.is_superuser and containment.needs_consent(p))]
        if new:
            raise _StackRefused(new)
        versions.record(stack, m.StackVersion.ADMIN, user=request.user)
        _note_rendered(stack)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        git = m.GitSource.objects.filter(stack_id=object_id).first() if object_id and object_id.isdigit() else None
        if git is not None and request.method == "GET":
            self.message_user(request, f"{git.stack.slug} follows Git ({git.url}, branch {git.branch}): edit it in "
                                       "Git; a push or `stack sync` brings the change here.", messages.WARNING)
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
    list_display = ["__str__", "stack", "order", "who_gets"]

    @admin.display(description="who gets an alert")
    def who_gets(self, obj):
        return format_html('<a href="{}">test a label set</a>', reverse("stack-routes", args=[obj.stack.slug]))


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
    # Values are never shown; a secret can be created (generated) or deleted. It
    # belongs to one stack and is shared with others by an admin's choice.
    list_display = ["name", "stack", "created"]
    fields = ["name", "stack", "shared_with"]
    filter_horizontal = ["shared_with"]

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj else []

    def save_model(self, request, obj, form, change):
        if not obj.value:
            obj.value = pysecrets.token_urlsafe(24)
        super().save_model(request, obj, form, change)


@admin.register(m.Deployment)
class DeploymentAdmin(StackScoped, admin.ModelAdmin):
    list_display = ["id", "stack", "action", "status", "requested_by", "created"]
    list_filter = ["stack", "status", "action"]
    readonly_fields = [f.name for f in m.Deployment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(m.Alert)
class AlertAdmin(StackScoped, admin.ModelAdmin):
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
