"""Bearer tokens for the API, and who may read the schema and the docs."""
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from ninja.security import HttpBearer

from stacks.models import ApiToken


def token_of(request, secret):
    """The live token with this secret, noted as used; the request then acts as
    its user (the audit log says which token)."""
    token = ApiToken.objects.presented(secret.strip())
    if token is None:
        return None
    token.used()
    request.user, request.api_token = token.user, token
    return token


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        return token_of(request, token)


def _bearer(request):
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret if scheme.lower() == "bearer" and secret else ""


def logged_in_or_token(view):
    """The schema and the docs: a logged-in user, or a valid token (scripts and
    the fuzz test fetch the schema with one). A browser is sent to log in; a
    script gets 401."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated or (_bearer(request) and token_of(request, _bearer(request))):
            return view(request, *args, **kwargs)
        if request.path.endswith(".json") or _bearer(request):
            return JsonResponse({"detail": "Log in, or send an API token: Authorization: Bearer pnl_…"},
                                status=401)
        return redirect_to_login(request.get_full_path())
    return wrapper
