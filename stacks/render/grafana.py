"""Grafana provisioning: datasources, the dashboard provider, dashboard models."""

DASHBOARDS_DIR_IN_CONTAINER = "/var/lib/grafana/dashboards"

PROVIDER_DEFAULTS = {
    "name": "panel", "orgId": 1, "folder": "", "type": "file", "disableDeletion": True,
    "updateIntervalSeconds": 30, "allowUiUpdates": False,
}
# What a stack's grafana_dashboard_provider may set over PROVIDER_DEFAULTS, with
# the type each takes (Grafana reads the file, not the panel: a wrong type would
# only show up in Grafana's log).
PROVIDER_SETTINGS = {"name": str, "orgId": int, "folder": str, "folderUid": str, "disableDeletion": bool,
                     "updateIntervalSeconds": int, "allowUiUpdates": bool}


def check_provider_settings(settings):
    """What is wrong with a stack's provider settings, or ''."""
    if not isinstance(settings, dict):
        return "Provider settings are a mapping."
    for key, value in settings.items():
        kind = PROVIDER_SETTINGS.get(key)
        if kind is None:
            return f"{key}: not a setting the panel renders; use {', '.join(PROVIDER_SETTINGS)}."
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{key}: a {kind.__name__}."
    return ""


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
