"""Rows, by concern; everything is re-exported here, so the app label stays
`stacks` and `from stacks.models import X` keeps working.

    engines       where stacks run
    definitions   what a team edits: stacks, services, networks, volumes, files, secrets
    consent       an admin's consent to each host option of a stack
    monitoring    scrape jobs, alert rules, Alertmanager routing, Grafana, log routes
    operations    what happened: each operation and its steps
    health        service health and resource samples, as the poller saw them
    alerts        alerts and the deliveries that carried them
    registries    image registries (credentials) and the last update check per image
    footprints    host ports and networks each stack claims (for the others' validation)
    git           where a stack's definition comes from when it follows a Git repository
    versions      every change of a stack's definition, as a snapshot
    audit         who did what
    access        roles per stack and API tokens
    events        the panel's own events, their destinations and deliveries; what it watches per stack

A model records and reads its own rows; it never queues work or calls a layer
above it (render, validation, operations, tasks)."""
from stacks.lib.fluentd_tags import fluentd_pattern_matches
from stacks.models.access import OPERATOR, VIEWER, ApiToken, StackRole
from stacks.models.alerts import Alert, AlertDelivery, AlertDeliveryQuerySet
from stacks.models.audit import AuditRecord
from stacks.models.consent import HostConsent
from stacks.models.definitions import Network, Secret, Service, Stack, StackFile, Volume
from stacks.models.engines import Engine, default_engine
from stacks.models.events import Destination, Event, EventDelivery, StackWatch
from stacks.models.footprints import HostPortClaim, NetworkMember, StackFootprint
from stacks.models.git import GitSource
from stacks.models.health import HealthChange, ResourceSample, ServiceHealth
from stacks.models.monitoring import (
                                      AlertRule,
                                      GrafanaDashboard,
                                      GrafanaDatasource,
                                      InhibitRule,
                                      LogRoute,
                                      Receiver,
                                      Route,
                                      ScrapeJob,
)
from stacks.models.operations import Busy, Deployment, DeploymentQuerySet, DeploymentStep, PlanChanged
from stacks.models.registries import ImageCheck, Registry
from stacks.models.validators import (
                                      alert_name,
                                      check_str_dict,
                                      check_str_list,
                                      compose_name,
                                      dns_sd_problem,
                                      duration,
                                      label_name,
                                      receiver_name,
)
from stacks.models.versions import StackVersion

__all__ = [
    "OPERATOR", "VIEWER", "ApiToken", "StackRole", "Alert", "AlertDelivery", "AlertDeliveryQuerySet", "AlertRule",
    "AuditRecord", "Busy", "Deployment", "DeploymentQuerySet", "DeploymentStep", "Destination", "Engine", "Event",
    "EventDelivery", "GitSource", "GrafanaDashboard", "GrafanaDatasource", "HealthChange", "HostConsent", "HostPortClaim", "ImageCheck",
    "InhibitRule", "LogRoute", "Network", "NetworkMember", "PlanChanged", "Receiver", "Registry", "ResourceSample", "Route",
    "ScrapeJob", "Secret", "Service", "ServiceHealth", "Stack", "StackFile", "StackFootprint", "StackVersion",
    "StackWatch", "Volume", "alert_name", "check_str_dict", "check_str_list", "compose_name", "default_engine",
    "dns_sd_problem", "duration", "fluentd_pattern_matches", "label_name", "receiver_name",
]
