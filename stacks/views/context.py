"""Template context for every page: the host that stack links point at, and the
firing-alert counter in the navigation; for the login page, whether password
reset is offered."""
from stacks.models import Alert
from stacks.views.accounts import password_reset_offered


def panel(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"password_reset_offered": password_reset_offered()}
    return {
        "link_host": request.get_host().rsplit(":", 1)[0].strip("[]") or "localhost",
        "nav_firing": Alert.objects.filter(status="firing").count(),
    }
