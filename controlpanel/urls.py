from django.contrib import admin
from django.urls import include, path

from stacks.api.urls import urls as api_urls

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", api_urls()),
    path("", include("stacks.urls")),
]
