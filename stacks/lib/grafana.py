"""Grafana's dashboard provider settings: which the panel renders, and their types."""

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
