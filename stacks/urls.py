from django.urls import path

from stacks.views import (
    adopt,
    alerts,
    charts,
    deployments,
    edit,
    imports,
    live,
    logs,
    metrics,
    overview,
    plan,
    stack,
    timeline,
)
from stacks.views.webhook import alertmanager_webhook

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("charts/overview.json", charts.overview_strips, name="overview-strips"),
    path("stacks/<slug:slug>/charts.json", charts.stack_charts, name="stack-charts"),
    path("alerts/<int:pk>/graph.json", charts.alert_graph, name="alert-graph"),
    path("stacks/import/", imports.stack_import, name="stack-import"),
    path("stacks/adopt/", adopt.stack_adopt, name="stack-adopt"),
    path("stacks/<slug:slug>/", stack.stack_detail, name="stack-detail"),
    path("stacks/<slug:slug>/timeline/", timeline.timeline, name="stack-timeline"),
    path("stacks/<slug:slug>/plan/", plan.stack_plan, name="stack-plan"),
    path("stacks/<slug:slug>/delete/", stack.stack_delete, name="stack-delete"),
    path("stacks/<slug:slug>/edit/", edit.stack_edit, name="stack-edit"),
    path("stacks/<slug:slug>/<str:action>/", stack.stack_action, name="stack-action"),
    path("stacks/<slug:slug>/services/<str:name>/logs/", logs.service_logs, name="service-logs"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="deployment-detail"),
    path("alerts/", alerts.alert_list, name="alert-list"),
    path("alerts/<int:pk>/", alerts.alert_detail, name="alert-detail"),
    path("alerts/<int:pk>/silence/", alerts.alert_silence, name="alert-silence"),
    path("alerts/<int:pk>/silences/<str:silence_id>/expire/", alerts.silence_expire, name="silence-expire"),
    path("alerts/<int:pk>/acknowledge/", alerts.alert_acknowledge, name="alert-acknowledge"),
    path("webhooks/alertmanager/", alertmanager_webhook, name="alertmanager-webhook"),
    path("live/", live.events, name="live"),
    path("metrics", metrics.metrics, name="metrics"),
]
