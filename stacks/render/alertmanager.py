"""alertmanager.yml: the root route, routes, receivers and inhibit rules."""


def receiver_dict(receiver, panel_webhook_url, panel_token):
    r = {"name": receiver.name}
    if receiver.kind == "panel":
        r["webhook_configs"] = [{
            "url": panel_webhook_url,
            "send_resolved": receiver.send_resolved,
            "http_config": {"authorization": {"type": "Bearer", "credentials": panel_token}},
        }]
    elif receiver.kind == "webhook":
        r["webhook_configs"] = [{"url": receiver.url, "send_resolved": receiver.send_resolved}]
    elif receiver.kind == "email":
        r["email_configs"] = [{"to": receiver.email_to, "from": receiver.email_from,
                               "smarthost": receiver.smarthost, "send_resolved": receiver.send_resolved}]
    elif receiver.kind == "slack":
        cfg = {"api_url": receiver.url, "send_resolved": receiver.send_resolved}
        if receiver.slack_channel:
            cfg["channel"] = receiver.slack_channel
        r["slack_configs"] = [cfg]
    return r


def alertmanager_dict(stack, receivers, routes, inhibit_rules, panel_webhook_url, panel_token):
    default = next((r for r in receivers if r.is_default), receivers[0] if receivers else None)
    root = {"receiver": default.name if default else "null"}
    if stack.alert_group_by:
        root["group_by"] = list(stack.alert_group_by)
    root.update(group_wait=stack.alert_group_wait, group_interval=stack.alert_group_interval,
                repeat_interval=stack.alert_repeat_interval)
    if routes:
        root["routes"] = []
        for route in routes:
            child = {"receiver": route.receiver.name, "matchers": list(route.matchers)}
            if route.group_by:
                child["group_by"] = list(route.group_by)
            if route.continue_matching:
                child["continue"] = True
            root["routes"].append(child)
    doc = {"route": root,
           "receivers": [receiver_dict(r, panel_webhook_url, panel_token) for r in receivers] or [{"name": "null"}]}
    if inhibit_rules:
        doc["inhibit_rules"] = []
        for rule in inhibit_rules:
            entry = {"source_matchers": list(rule.source_matchers), "target_matchers": list(rule.target_matchers)}
            if rule.equal:
                entry["equal"] = list(rule.equal)
            doc["inhibit_rules"].append(entry)
    return doc


def with_heartbeat(doc, receiver, group_interval, repeat_interval):
    """The heartbeat's route, first: to the panel's receiver, re-sent every
    repeat_interval, and nowhere else (no `continue`)."""
    route = {"receiver": receiver, "matchers": ['alertname="PanelHeartbeat"'], "group_by": ["alertname"],
             "group_wait": "0s", "group_interval": group_interval, "repeat_interval": repeat_interval}
    doc["route"]["routes"] = [route] + doc["route"].get("routes", [])
    return doc
