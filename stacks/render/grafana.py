"""Grafana provisioning: datasources, the dashboard provider, dashboard models."""

DASHBOARDS_DIR_IN_CONTAINER = "/var/lib/grafana/dashboards"


def datasources_dict(datasources):
    return {"apiVersion": 1, "datasources": [
        {"name": ds.name, "uid": ds.uid, "type": ds.type, "access": "proxy", "url": ds.url,
         "isDefault": ds.is_default, "editable": False}
        for ds in datasources
    ]}


def providers_dict():
    return {"apiVersion": 1, "providers": [{
        "name": "panel", "orgId": 1, "folder": "", "type": "file", "disableDeletion": True,
        "updateIntervalSeconds": 30, "allowUiUpdates": False,
        "options": {"path": DASHBOARDS_DIR_IN_CONTAINER},
    }]}


def dashboard_dict(dashboard):
    # File provisioning reads the model itself (not the HTTP API's {"dashboard": …}
    # wrapper); uid and title come from the row so they stay stable across edits.
    model = dict(dashboard.model)
    model.pop("id", None)
    model["uid"] = dashboard.slug
    model["title"] = dashboard.title
    model.setdefault("schemaVersion", 39)
    return model
