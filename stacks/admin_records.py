"""The admin pages of what is not a stack's definition: roles and API tokens,
notification destinations and the events delivered to them, image registries
and what they said. Registered with the site when stacks.admin is imported."""
from django import forms
from django.contrib import admin

from stacks import models as m
from stacks.accounts import audit


@admin.register(m.StackRole)
class StackRoleAdmin(admin.ModelAdmin):
    """Roles per stack: a team (group) or a user is viewer or operator of a stack."""

    list_display = ["stack", "group", "user", "role", "source"]
    list_filter = ["role", "stack", "source"]
    autocomplete_fields = ["user", "group", "stack"]


@admin.register(m.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: listed and revoked here; created on the user's own page or with
    `manage.py token create` (the secret is shown once, there)."""

    list_display = ["name", "key", "user", "write", "created", "last_used", "revoked"]
    list_filter = ["write"]
    readonly_fields = ["user", "name", "key", "write", "stacks", "created", "last_used", "revoked"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked__isnull=True):
            token.revoke()
            audit.record("revoke api token", str(token), request=request)


@admin.register(m.Destination)
class DestinationAdmin(admin.ModelAdmin):
    """Notification URLs (`manage.py notify add`); the URL is write-only here: it may hold a token."""
    list_display = ["name", "shown_url", "stack", "events", "enabled", "last_ok", "last_sent", "last_error"]
    readonly_fields = ["last_attempt", "last_ok", "last_error", "last_sent"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            form.base_fields["url"].widget = forms.PasswordInput(render_value=False)
            form.base_fields["url"].required = False
            form.base_fields["url"].help_text = "Leave empty to keep the current URL."
        return form

    def save_model(self, request, obj, form, change):
        if change and not form.cleaned_data.get("url"):
            obj.url = m.Destination.objects.get(pk=obj.pk).url
        super().save_model(request, obj, form, change)


@admin.register(m.Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "stack", "service", "started", "ended", "by"]
    list_filter = ["kind", "stack"]
    readonly_fields = [f.name for f in m.Event._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(m.EventDelivery)
class EventDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "target", "resolved", "status", "attempts", "error", "next_try", "sent"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in m.EventDelivery._meta.fields]


class RegistryForm(forms.ModelForm):
    """The password is write-only: typed to set or replace it, never shown back."""
    new_password = forms.CharField(required=False, strip=False, label="Password or token",
                                   widget=forms.PasswordInput(render_value=False),
                                   help_text="Leave empty to keep the stored one.")

    class Meta:
        model = m.Registry
        fields = ["name", "url", "username", "ca_cert"]

    def save(self, commit=True):
        if self.cleaned_data.get("new_password"):
            self.instance.password = self.cleaned_data["new_password"]
        if not self.instance.username:
            self.instance.password = ""
        return super().save(commit)


@admin.register(m.Registry)
class RegistryAdmin(admin.ModelAdmin):
    # The password is a secret: set here (or `manage.py registry add --password-stdin`), never displayed.
    form = RegistryForm
    list_display = ["name", "url", "username", "has_login"]


@admin.register(m.ImageCheck)
class ImageCheckAdmin(admin.ModelAdmin):
    list_display = ["reference", "digest", "checked", "error"]
    readonly_fields = [f.name for f in m.ImageCheck._meta.fields]

    def has_add_permission(self, request):
        return False
