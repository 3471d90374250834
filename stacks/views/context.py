"""Template context for every page: the host that stack links point at, and the
firing-alert counter in the navigation."""
from stacks.models import Alert


def panel(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "link_host": request.get_host().rsplit(":", 1)[0].strip("[]") or "localhost",
        "nav_firing": Alert.objects.filter(status="firing").count(),
    }
