from django.contrib import admin
from django.urls import include, path

from stacks.api.urls import urls as api_urls
from stacks.views import accounts

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
    path("accounts/", include(accounts.urlpatterns)),
    path("", include("stacks.urls")),
]
