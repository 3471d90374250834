"""What the panel itself writes into a stack's files, recognised in a project it
deployed before (its database restored from an older backup, a stack imported
again from its directory, a project adopted back): the heartbeat rule file, the
heartbeat's route, and the receiver that posts to this panel's webhook with its
token. The rows bring them back at render, so they are taken out here rather
than keeping the files verbatim, which would have kept the webhook token as it
was then (wrong once rotated) and the rule files out of the rows."""
from stacks.adoption.config_import.common import NotExact, parse_yaml
from stacks.render import HEARTBEAT_FILE, panel_webhook_url
from stacks.render.prometheus import HEARTBEAT, heartbeat_rules

HEARTBEAT_MATCHERS = [f'alertname="{HEARTBEAT}"']


def without_heartbeat_file(files):
    """{path: text} without the panel's heartbeat rule file (for any stack name)."""
    text = files.get(HEARTBEAT_FILE)
    if not isinstance(text, str):
        return files
    try:
        doc = parse_yaml(text, HEARTBEAT_FILE)
        slug = doc["groups"][0]["rules"][0]["labels"]["stack"]
    except (NotExact, KeyError, IndexError, TypeError):
        return files
    if doc != heartbeat_rules(slug):
        return files
    return {p: t for p, t in files.items() if p != HEARTBEAT_FILE}


def is_panel_webhook(config):
    """A webhook config posting to this panel's webhook with a bearer token: the
    panel's receiver (the token is written afresh at render)."""
    auth = (config.get("http_config") or {}).get("authorization") if isinstance(config, dict) else None
    return (isinstance(auth, dict) and config.get("url") == panel_webhook_url()
            and set(config) <= {"url", "send_resolved", "http_config"} and set(config["http_config"]) == {"authorization"}
            and auth.get("type") == "Bearer" and isinstance(auth.get("credentials"), str) and len(auth) == 2)


def as_rendered_without_secrets(doc):
    """alertmanager.yml's doc as the importer renders rows (panel URL and token
    empty), so that rows and file compare."""
    receivers = []
    for entry in doc.get("receivers") or []:
        configs = entry.get("webhook_configs") if isinstance(entry, dict) else None
        if isinstance(configs, list) and len(configs) == 1 and is_panel_webhook(configs[0]):
            config = {**configs[0], "url": "", "http_config": {"authorization": {"type": "Bearer", "credentials": ""}}}
            entry = {**entry, "webhook_configs": [config]}
        receivers.append(entry)
    return {**doc, "receivers": receivers}


def without_heartbeat_route(routes, panel_receivers):
    """The root's child routes without the heartbeat's (first, to a panel receiver)."""
    if routes and isinstance(routes[0], dict) and routes[0].get("matchers") == HEARTBEAT_MATCHERS \
            and routes[0].get("receiver") in panel_receivers:
        return routes[1:]
    return routes
