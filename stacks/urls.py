from django.urls import path

from .alerting.webhook import alertmanager_webhook

urlpatterns = [
    path("webhooks/alertmanager/", alertmanager_webhook, name="alertmanager-webhook"),
]
