"""Template context for every page: the host that stack links point at, and the
firing-alert counter in the navigation; for the login page, whether single
sign-on and password reset are offered."""
from django.conf import settings

from stacks.accounts.access import visible_alerts
from stacks.views.accounts import password_reset_offered


def panel(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"sso_enabled": bool(settings.PANEL_OIDC_ISSUER), "password_reset_offered": password_reset_offered()}
    return {
        "link_host": request.get_host().rsplit(":", 1)[0].strip("[]") or "localhost",
        "nav_firing": visible_alerts(request.user).filter(status="firing").count(),
    }
