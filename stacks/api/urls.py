"""/api/v1/: the API object, its error answers and its URLs. django-ninja makes
the OpenAPI schema (/api/v1/openapi.json) from the endpoints' type hints and
serves Swagger UI (/api/v1/docs, from its own static files) to logged-in users."""
import logging

from django.db import DatabaseError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from stacks.api import alerts, operations, stacks
from stacks.api.auth import TokenAuth, logged_in_or_token
from stacks.seams.broker import BrokerError

log = logging.getLogger("stacks.api")

api = NinjaAPI(title="Stacks panel API", version="1", urls_namespace="api-1", auth=TokenAuth(),
               docs_decorator=logged_in_or_token,
               description="Send a token as `Authorization: Bearer pnl_…` (create one on the API tokens page or "
                           "with `manage.py token create USERNAME`). Errors are `{\"detail\": …}`; bad input is a "
                           "422 whose detail names each field (`loc`).")
api.add_router("", stacks.router)
api.add_router("", operations.router)
api.add_router("", alerts.router)


@api.exception_handler(AuthenticationError)
def unauthorized(request, exc):
    return api.create_response(request, {"detail": "Send a valid API token: Authorization: Bearer pnl_…"},
                               status=401)


@api.exception_handler(ValidationError)
def invalid(request, exc):
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(BrokerError)
def broker_down(request, exc):
    log.error("API: Redis unavailable: %s", exc)
    return api.create_response(request, {"detail": f"Redis is unavailable: {exc}"}, status=503)


@api.exception_handler(DatabaseError)
def database_down(request, exc):
    log.error("API: database error: %s", exc)
    return api.create_response(request, {"detail": "The database is unavailable; try again."}, status=503)


def _public(patterns):
    """The API answers 401 itself: Django's LoginRequiredMiddleware must not send
    its requests to the login page."""
    for p in patterns:
        if hasattr(p, "url_patterns"):
            _public(p.url_patterns)
        else:
            p.callback.login_required = False
    return patterns


def urls():
    patterns, app_name, namespace = api.urls
    return _public(patterns), app_name, namespace
