"""The panel's URLs plus a no-op view: the framework's ceiling on the same server."""
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from controlpanel.urls import urlpatterns as panel_urls


@csrf_exempt
@login_not_required
def noop(request):
    request.body  # read it, as the webhook does
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/noop/", noop), *panel_urls]
