"""A user's own API tokens: create (the secret shown once), list, revoke."""
from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from stacks.accounts import audit
from stacks.accounts.access import operable_stacks, visible_stacks
from stacks.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What it is for, e.g. ci-deploy.")
    write = forms.BooleanField(required=False, label="Read-write",
                               help_text="May plan, deploy and acknowledge, where you may.")
    stacks = forms.ModelMultipleChoiceField(queryset=None, required=False,
                                            widget=forms.CheckboxSelectMultiple,
                                            help_text="Only these stacks; none: every stack you may see.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["stacks"].queryset = visible_stacks(user).order_by("slug")

    def clean(self):
        data = super().clean()
        if data.get("write") and data.get("stacks"):
            refused = set(data["stacks"]) - set(operable_stacks(self.user))
            if refused:
                self.add_error("stacks", "You are not an operator of " + ", ".join(sorted(s.slug for s in refused))
                               + ": a read-write token for it would do nothing there.")
        return data


def api_tokens(request):
    form = TokenForm(request.POST or None, user=request.user)
    secret = None
    if request.method == "POST" and form.is_valid():
        token, secret = ApiToken.objects.issue(request.user, form.cleaned_data["name"],
                                               write=form.cleaned_data["write"], stacks=form.cleaned_data["stacks"])
        audit.record("create api token", str(token), request=request,
                     detail="read-write" if token.write else "read-only")
        form = TokenForm(user=request.user)
    tokens = request.user.api_tokens.prefetch_related("stacks")
    return render(request, "stacks/api_tokens.html", {"form": form, "secret": secret, "tokens": tokens})


@require_POST
def api_token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.revoke()
    audit.record("revoke api token", str(token), request=request)
    messages.success(request, f"Revoked {token}.")
    return redirect("api-tokens")
