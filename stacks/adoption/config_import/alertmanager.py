"""alertmanager.yml → receivers, the route tree and inhibit rules."""
from stacks.adoption.config_import.common import NotExact
from stacks.adoption.config_import.common import only as _only
from stacks.adoption.config_import.panel_own import (
    as_rendered_without_secrets,
    is_panel_webhook,
    without_heartbeat_route,
)
from stacks.models import InhibitRule, Receiver, Route
from stacks.render import alertmanager as am_render

# --- alertmanager.yml ------------------------------------------------------------------

ROUTE_DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


def _receiver(stack, entry):
    kinds = [k for k in ("webhook_configs", "email_configs", "slack_configs") if k in entry]
    _only(entry, {"name", *kinds})
    if len(kinds) != 1 or len(entry[kinds[0]]) != 1:
        raise NotExact()
    cfg = entry[kinds[0]][0]
    r = Receiver(stack=stack, name=str(entry["name"]))
    if kinds[0] == "webhook_configs" and is_panel_webhook(cfg):
        r.kind, r.send_resolved = "panel", bool(cfg.get("send_resolved", True))
    elif kinds[0] == "webhook_configs":
        _only(cfg, {"url", "send_resolved"})
        r.kind, r.url, r.send_resolved = "webhook", str(cfg["url"]), bool(cfg.get("send_resolved", True))
    elif kinds[0] == "email_configs":
        _only(cfg, {"to", "from", "smarthost", "send_resolved"})
        r.kind, r.email_to, r.email_from = "email", str(cfg.get("to", "")), str(cfg.get("from", ""))
        r.smarthost, r.send_resolved = str(cfg.get("smarthost", "")), bool(cfg.get("send_resolved", False))
    else:
        _only(cfg, {"api_url", "channel", "send_resolved"})
        r.kind, r.url, r.slack_channel = "slack", str(cfg.get("api_url", "")), str(cfg.get("channel", ""))
        r.send_resolved = bool(cfg.get("send_resolved", False))
    return r


def _norm_alertmanager(doc):
    route = {**ROUTE_DEFAULTS, **doc["route"]}
    receivers = []
    for entry in doc.get("receivers") or []:
        entry = dict(entry)
        for kind, default in (("webhook_configs", True), ("email_configs", False), ("slack_configs", False)):
            if kind in entry:
                entry[kind] = [{"send_resolved": default, **c} for c in entry[kind]]
        receivers.append(entry)
    return {"route": route, "receivers": receivers, "inhibit_rules": doc.get("inhibit_rules") or []}


def alertmanager_rows(stack, doc):
    """(receivers, routes, inhibit rules), unsaved; routes point at their receivers by name."""
    _only(doc, {"route", "receivers", "inhibit_rules"})
    root = _only(doc.get("route") or {}, {"receiver", "group_by", "group_wait", "group_interval",
                                          "repeat_interval", "routes"})
    receivers = [_receiver(stack, e) for e in doc.get("receivers") or []]
    by_name = {r.name: r for r in receivers}
    if root.get("receiver") not in by_name or len(by_name) != len(receivers):
        raise NotExact()
    # The heartbeat's route is the panel's own: render puts it back (panel_own).
    # A receiver posting to this panel is the panel's row only in a file the
    # panel wrote, heartbeat and all: a team's own file posting here without it
    # stays verbatim, so that adopting it in place writes nothing new.
    panel = {r.name for r in receivers if r.kind == "panel"}
    routes = doc["route"].get("routes") or []
    routes_left = without_heartbeat_route(routes, panel)
    if panel and len(routes_left) == len(routes):
        raise NotExact()
    root = {k: v for k, v in root.items() if k != "routes"}
    if routes_left:
        root["routes"] = routes_left
    doc = {**doc, "route": root}
    by_name[root["receiver"]].is_default = True
    stack.alert_group_by = [str(x) for x in root.get("group_by") or []]
    for key, default in ROUTE_DEFAULTS.items():
        setattr(stack, f"alert_{key}", str(root.get(key, default)))
    routes = []
    for i, child in enumerate(root.get("routes") or []):
        _only(child, {"receiver", "matchers", "group_by", "continue"})
        if child.get("receiver") not in by_name:
            raise NotExact()
        routes.append(Route(stack=stack, receiver=by_name[child["receiver"]], order=i,
                            matchers=[str(m) for m in child.get("matchers") or []],
                            group_by=[str(x) for x in child.get("group_by") or []],
                            continue_matching=bool(child.get("continue", False))))
    inhibits = []
    for entry in doc.get("inhibit_rules") or []:
        _only(entry, {"source_matchers", "target_matchers", "equal"})
        inhibits.append(InhibitRule(stack=stack, source_matchers=[str(m) for m in entry.get("source_matchers") or []],
                                    target_matchers=[str(m) for m in entry.get("target_matchers") or []],
                                    equal=[str(x) for x in entry.get("equal") or []]))
    rendered = am_render.alertmanager_dict(stack, receivers, routes, inhibits, "", "")
    if _norm_alertmanager(rendered) != _norm_alertmanager(as_rendered_without_secrets(doc)):
        raise NotExact()
    return receivers, routes, inhibits


