"""Fluentd's fluent.conf and Logstash's pipeline from log routes.

Both are text formats of their own; every value that reaches them is checked by
the models' validators (tag patterns, index names) or quoted here."""
import json
import re


def _quote(value):
    # Fluentd's double-quoted strings take JSON-style escapes.
    return json.dumps(value)


def fluentd_conf(routes, es_host, es_port=9200, drop_own_events=True, stdout_unmatched=True):
    lines = [
        "# Rendered by the control panel from its log routes.",
        "<source>", "  @type forward", "  port 24224", "  bind 0.0.0.0", "</source>", "",
    ]
    if drop_own_events:
        lines += ["<match fluent.**>", "  @type null", "</match>", ""]
    for route in routes:
        lines += [
            f"<match {route.tag_pattern}>",
            "  @type elasticsearch",
            f"  host {_quote(es_host)}",
            f"  port {int(es_port)}",
            f"  index_name {_quote(route.index)}",
        ]
        # Plain one-line values (LogRoute.clean): written unquoted, as Fluentd reads them.
        lines += [f"  {key} {value}" for key, value in sorted(route.options.items())]
        if route.flush_interval:
            lines += ["  <buffer>", f"    flush_interval {route.flush_interval}", "  </buffer>"]
        lines += ["</match>", ""]
    if stdout_unmatched:
        lines += ["<match **>", "  @type stdout", "</match>", ""]
    return "\n".join(lines)


def fluentd_pattern_regex(pattern):
    """The same tags as a Fluentd pattern, as a regular expression for Logstash."""
    def one(p):
        out = ""
        for i, part in enumerate(p.split(".")):
            sep = r"\." if i else ""
            if part == "**":
                out += r"(\.[^.]+)*" if i else r"([^.]+(\.[^.]+)*)?"
                continue
            part_rx = re.escape(part).replace(r"\*", "[^.]*")
            part_rx = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", part_rx)
            out += sep + part_rx
        return out
    return "^(" + "|".join(one(p) for p in pattern.split()) + ")$"


def logstash_conf(routes, es_url):
    lines = [
        "# Rendered by the control panel from its log routes.",
        "input {", "  gelf { port => 12201 }", "  tcp { port => 5000 codec => json_lines }", "}", "",
        "output {",
    ]
    for i, route in enumerate(routes):
        keyword = "if" if i == 0 else "else if"
        lines += [
            f"  {keyword} [tag] =~ /{fluentd_pattern_regex(route.tag_pattern)}/ {{",
            f"    elasticsearch {{ hosts => [{_quote(es_url)}] index => {_quote(route.index)} }}",
            "  }",
        ]
    if routes:
        lines += ["  else {", "    stdout { codec => rubydebug }", "  }"]
    else:
        lines += ["  stdout { codec => rubydebug }"]
    lines += ["}", ""]
    return "\n".join(lines)
