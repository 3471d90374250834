"""Grafana provisioning → datasources, the dashboard provider's settings and
dashboards. Grafana reads every YAML file of a provisioning directory and every
dashboard file its provider points at, so the files of a directory are taken
together: all become rows, or all stay as they are."""
import json
import posixpath
import re

from stacks.adoption.config_import.common import NotExact, only, parse_yaml
from stacks.models import GrafanaDashboard, GrafanaDatasource
from stacks.render import grafana as render

# What Grafana assumes when a provisioning file leaves a key out.
DATASOURCE_DEFAULTS = {"orgId": 1, "access": "proxy", "isDefault": False, "editable": False, "jsonData": {}}
PROVIDER_DEFAULTS = {"orgId": 1, "folder": "", "disableDeletion": False, "updateIntervalSeconds": 10,
                     "allowUiUpdates": False}
DATASOURCE_KEYS = {"name", "uid", "type", "access", "url", "isDefault", "editable", "jsonData", "orgId"}


def _entries(files, key):
    """The `key` lists of every YAML file of a provisioning directory, in the order
    Grafana reads them (by file name)."""
    paths = sorted(files)
    if not all(p.endswith((".yml", ".yaml")) for p in paths):
        raise NotExact()  # Grafana would read only the YAML ones; the rest is the team's, kept with them
    out = []
    for path in paths:
        doc = only(parse_yaml(files[path], path), {"apiVersion", key})
        if doc.get("apiVersion") != 1 or not isinstance(doc.get(key) or [], list):
            raise NotExact()
        out += doc.get(key) or []
    return out


# --- datasources -------------------------------------------------------------------------

def _norm_datasources(entries):
    out = {}
    for ds in entries:
        entry = {**DATASOURCE_DEFAULTS, **ds}
        if entry["name"] in out:
            raise NotExact()
        out[entry["name"]] = entry
    return out


def datasource_rows(stack, files):
    """{path: text} of the datasources directory → unsaved GrafanaDatasource rows."""
    entries = _entries(files, "datasources")
    rows = []
    for ds in entries:
        only(ds, DATASOURCE_KEYS)
        texts = [ds.get(k, "") for k in ("name", "uid", "type", "url")]
        flags = [ds.get(k, False) for k in ("isDefault", "editable")]
        if (not all(isinstance(t, str) for t in texts) or not all(isinstance(f, bool) for f in flags)
                or not isinstance(ds.get("jsonData", {}), dict) or ds.get("access", "proxy") != "proxy"
                or ds.get("orgId", 1) != 1):
            raise NotExact()
        rows.append(GrafanaDatasource(stack=stack, name=ds["name"], uid=ds.get("uid", ""), type=ds["type"],
                                      url=ds["url"], is_default=flags[0], editable=flags[1],
                                      json_data=ds.get("jsonData", {})))
    if _norm_datasources(render.datasources_dict(rows)["datasources"]) != _norm_datasources(entries):
        raise NotExact()
    return rows


# --- the dashboard provider -----------------------------------------------------------------

def _norm_provider(provider):
    return {**PROVIDER_DEFAULTS, **provider}


def provider_settings(files):
    """{path: text} of the dashboard providers' directory → the stack's
    grafana_dashboard_provider settings (one file-type provider reading where the
    panel's dashboards are)."""
    providers = _entries(files, "providers")
    if len(providers) != 1:
        raise NotExact()
    provider = only(providers[0], {*render.PROVIDER_SETTINGS, "type", "options"})
    if (provider.get("type") != "file" or "name" not in provider
            or provider.get("options") != {"path": render.DASHBOARDS_DIR_IN_CONTAINER}):
        raise NotExact()
    given = {k: v for k, v in provider.items() if k in render.PROVIDER_SETTINGS}
    settings = {k: v for k, v in {**PROVIDER_DEFAULTS, **given}.items() if render.PROVIDER_DEFAULTS.get(k) != v}
    if render.check_provider_settings(settings):
        raise NotExact()
    rendered = render.providers_dict(settings)["providers"][0]
    if _norm_provider(rendered) != _norm_provider(provider):
        raise NotExact()
    return settings


# --- dashboards --------------------------------------------------------------------------------

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def dashboard_rows(stack, files, directory):
    """{path: text} of the dashboards directory → unsaved GrafanaDashboard rows.
    The panel writes a dashboard to <uid>.json with its uid and title, and drops
    a null id: a file named otherwise, or with more to say there, stays."""
    rows = []
    for path, text in sorted(files.items()):
        name = posixpath.relpath(path, directory)
        try:
            model = json.loads(text)
        except ValueError:
            raise NotExact() from None
        if not isinstance(model, dict) or "/" in name or not name.endswith(".json"):
            raise NotExact()
        uid, title = model.get("uid"), model.get("title")
        if not isinstance(uid, str) or not UID.match(uid) or name != f"{uid}.json" or not isinstance(title, str) \
                or model.get("id", None) is not None:
            raise NotExact()
        row = GrafanaDashboard(stack=stack, slug=uid, title=title,
                               model={k: v for k, v in model.items() if k not in ("id", "uid", "title")})
        if render.dashboard_dict(row) != {k: v for k, v in model.items() if k != "id"}:
            raise NotExact()
        rows.append(row)
    return rows
