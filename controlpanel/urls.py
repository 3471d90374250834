from django.contrib import admin
from django.urls import include, path

from stacks.views import accounts

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns)),
    path("", include("stacks.urls")),
]
