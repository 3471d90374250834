"""JSON behind the graphs: same login and role rules as the pages (reading needs
a login; nothing here writes)."""
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from stacks.accounts.access import visible_alerts, visible_stacks
from stacks.models import Alert
from stacks.monitoring import charts


@require_GET
def alert_graph(request, pk):
    alert = get_object_or_404(visible_alerts(request.user, qs=Alert.objects.select_related("stack")), pk=pk)
    data = charts.alert_graph(alert)
    return JsonResponse(data, status=data.pop("status", 200))


@require_GET
def stack_charts(request, slug):
    stack = get_object_or_404(visible_stacks(request.user), slug=slug)
    return JsonResponse(charts.stack_charts(stack))


@require_GET
def overview_strips(request):
    return JsonResponse(charts.overview_strips(stacks=visible_stacks(request.user)))
