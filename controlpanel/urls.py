from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from stacks.api.urls import urls as api_urls
from stacks.views import accounts

# A database locked or down answers 503 with Retry-After on every page, not 500.
handler500 = "stacks.views.guards.server_error"

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
    path("accounts/", include(accounts.urlpatterns)),
    # Browsers ask for it on every page, logged in or not.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("favicon.svg"), permanent=True))),
    path("", include("stacks.urls")),
]
