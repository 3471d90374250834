"""Single sign-on's two pages (mozilla-django-oidc): off to the identity
provider, and back with the code. Both are open to the not yet logged in."""
from django.conf import settings
from django.http import Http404
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from stacks.accounts.oidc import oidc_setting


class _Configured:
    get_settings = staticmethod(oidc_setting)

    def dispatch(self, request, *args, **kwargs):
        if not settings.PANEL_OIDC_ISSUER:
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)


class SignOn(_Configured, OIDCAuthenticationRequestView):
    pass


class SignOnCallback(_Configured, OIDCAuthenticationCallbackView):
    pass


def _open(view):
    view.login_required = False
    return view


sign_on = _open(SignOn.as_view())
sign_on_callback = _open(SignOnCallback.as_view())
__all__ = ["sign_on", "sign_on_callback"]
