"""fluent.conf → log routes, where its matches map cleanly: the forward source the
panel writes, Elasticsearch matches in order, and optionally Fluentd's own events
dropped first and the unmatched printed last. Judged by reading both files with
stacks.adoption.fluentconf: the same sections, arguments and values, in the same order."""
from stacks.adoption import fluentconf
from stacks.adoption.config_import.common import NotExact
from stacks.models import LogRoute
from stacks.render import logs as render

SOURCE = {"@type": "forward", "port": "24224", "bind": "0.0.0.0"}
ROUTE_PARAMS = {"@type", "host", "port", "index_name"}


def _read(text):
    try:
        return fluentconf.parse(text)
    except fluentconf.Unsupported:
        raise NotExact() from None


def _match(d, arg, kind):
    return d.name == "match" and d.arg == arg and d.params == {"@type": kind} and not d.children


def _route(stack, d, es_host, order):
    params = d.params
    if (params.get("@type") != "elasticsearch" or params.get("host") != es_host or params.get("port") != "9200"
            or "index_name" not in params or any(k.startswith("@") for k in set(params) - ROUTE_PARAMS)):
        raise NotExact()
    options = {k: v for k, v in params.items() if k not in ROUTE_PARAMS}
    if not all(isinstance(v, str) for v in options.values()):
        raise NotExact()  # a JSON value: the route keeps plain ones
    flush = ""
    if d.children:
        buffer = d.children[0]
        if len(d.children) != 1 or buffer.name != "buffer" or buffer.arg or buffer.children \
                or set(buffer.params) != {"flush_interval"}:
            raise NotExact()
        flush = buffer.params["flush_interval"]
    return LogRoute(stack=stack, tag_pattern=d.arg, index=params["index_name"], flush_interval=flush,
                    options=options, order=order)


def log_routes(stack, text, es_host):
    """fluent.conf's text → (unsaved LogRoutes, drop_own_events, stdout_unmatched)."""
    sections = _read(text)
    if sections.params:
        raise NotExact()
    rest = list(sections.children)
    if not rest or rest[0].name != "source" or rest[0].params != SOURCE or rest[0].children or rest[0].arg:
        raise NotExact()
    rest.pop(0)
    drop_own = bool(rest) and _match(rest[0], "fluent.**", "null")
    if drop_own:
        rest.pop(0)
    stdout = bool(rest) and _match(rest[-1], "**", "stdout")
    if stdout:
        rest.pop()
    routes = []
    for d in rest:
        if d.name != "match":
            raise NotExact()
        routes.append(_route(stack, d, es_host, len(routes)))
    rendered = render.fluentd_conf(routes, es_host, drop_own_events=drop_own, stdout_unmatched=stdout)
    if _read(rendered) != sections:
        raise NotExact()
    return routes, drop_own, stdout
