from django.contrib import admin
from django.urls import include, path

admin.autodiscover()  # here rather than at start-up (settings: SimpleAdminConfig)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("stacks.urls")),
]
