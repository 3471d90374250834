"""Who gets this alert: the receivers a label set reaches through the deployed
routing tree (amtool config routes test), for a label set typed in."""
from stacks.notifications.routes import NoRoutes, parse_labels, reach
from stacks.views import render_page, visible_stack


def who_gets(stack, labels):
    """(Reach or None, error in the user's words)."""
    try:
        return reach(stack, labels), ""
    except NoRoutes as exc:
        return None, str(exc)


def stack_routes(request, slug):
    stack = visible_stack(request, slug)
    typed = request.GET.get("labels", "").strip()
    result, error = None, ""
    if typed:
        try:
            result, error = who_gets(stack, parse_labels(typed.split()))
        except NoRoutes as exc:
            error = str(exc)
    routes = list(stack.routes.select_related("receiver"))
    return render_page(request, "stacks/routes.html", {"stack": stack, "typed": typed, "reach": result,
                                                       "reach_error": error, "routes": routes})
