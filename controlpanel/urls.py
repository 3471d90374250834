from django.contrib import admin
from django.urls import include, path

# A database locked or down answers 503 with Retry-After on every page, not 500.
handler500 = "stacks.views.guards.server_error"

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("stacks.urls")),
]
