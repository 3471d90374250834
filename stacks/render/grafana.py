"""Grafana provisioning: datasources, the dashboard provider, dashboard models."""
from stacks.lib.grafana import PROVIDER_SETTINGS, check_provider_settings  # noqa: F401 (the renderer's checks)

DASHBOARDS_DIR_IN_CONTAINER = "/var/lib/grafana/dashboards"

PROVIDER_DEFAULTS = {
    "name": "panel", "orgId": 1, "folder": "", "type": "file", "disableDeletion": True,
    "updateIntervalSeconds": 30, "allowUiUpdates": False,
}


def datasources_dict(datasources):
    out = []
    for ds in datasources:
        entry = {"name": ds.name}
        if ds.uid:  # without one, Grafana makes one up
            entry["uid"] = ds.uid
        entry.update({"type": ds.type, "access": "proxy", "url": ds.url, "isDefault": ds.is_default,
                      "editable": ds.editable})
        if ds.json_data:
            entry["jsonData"] = ds.json_data
        out.append(entry)
    return {"apiVersion": 1, "datasources": out}


def providers_dict(settings=None):
    provider = {**PROVIDER_DEFAULTS, **(settings or {})}
    provider["options"] = {"path": DASHBOARDS_DIR_IN_CONTAINER}
    return {"apiVersion": 1, "providers": [provider]}


def dashboard_dict(dashboard):
    # File provisioning reads the model itself (not the HTTP API's {"dashboard": …}
    # wrapper); uid and title come from the row so they stay stable across edits.
    model = dict(dashboard.model)
    model.pop("id", None)
    model["uid"] = dashboard.slug
    model["title"] = dashboard.title
    model.setdefault("schemaVersion", 39)
    return model
