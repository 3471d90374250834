"""Where a problem is in a YAML text: the line of each key path (from PyYAML's
own marks), and the line a problem's message points at ("line 7: …", or a key
path such as `services.web.restart_policy: …`, the deepest key that exists)."""
import re

import yaml

from stacks.lib.yamlsafe import YAMLRefused, compose_yaml, load_yaml

MAX_KEYS = 50000
PATH = re.compile(r"^(?:error: |warning: )?(?:service )?([A-Za-z0-9_.\-]+)[:\s]")


def key_lines(text):
    """{("services", "web", "ports"): 5, …}: the line of each mapping key, and
    of each list item as its index; {} when the text is not YAML. Text as
    written: an alias's keys are at its anchor's lines. Read by the one bounded
    reader (stacks.lib.yamlsafe): size, nodes and depth are limited, so the walk
    below is too."""
    try:
        root = compose_yaml(text)
    except YAMLRefused:
        return {}
    lines, seen = {}, set()

    def walk(node, path):
        # An alias is the node it names: walked once (an alias bomb stays small).
        if id(node) in seen or len(lines) > MAX_KEYS:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = path + (str(key.value),)
                lines[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = path + (str(i),)
                lines[here] = item.start_mark.line + 1
                walk(item, here)

    if root is not None:
        walk(root, ())
    return lines


def line_of(problem, lines):
    """The line `problem` concerns, or None. A path names its deepest existing
    key: `services.web.nope` is the line of `web` when `nope` is not there."""
    m = re.search(r"\bline (\d+)", problem)
    if m:
        return int(m.group(1))
    m = PATH.match(problem)
    if not m:
        return None
    parts = tuple(p for p in m.group(1).split(".") if p)
    if parts and parts[0] not in ("services", "networks", "volumes", "configs", "secrets") and \
            ("services", parts[0]) in lines:
        parts = ("services",) + parts  # "service web: …", "web.ports: …"
    while parts:
        if parts in lines:
            return lines[parts]
        parts = parts[:-1]
    return None


def annotate(text, problems):
    """The text as numbered lines, each with the problems that concern it, and
    the problems no line has: ([{"n", "text", "problems"}], [problem])."""
    lines, by_line = key_lines(text), {}
    for p in problems:
        by_line.setdefault(line_of(p, lines) or 0, []).append(p)
    numbered = [{"n": i, "text": t, "problems": by_line.get(i, [])} for i, t in enumerate(text.splitlines(), 1)]
    return numbered, by_line.get(0, [])


def path_at_line(text, line):
    """The deepest key path written at or above `line` (the last one before it
    in the text): the key a tool's "FILE: LINE:COL: …" is about."""
    best, best_at = (), 0
    for path, at in key_lines(text).items():
        if at <= line and (at, len(path)) >= (best_at, len(best)):
            best, best_at = path, at
    return best


TOOL_LINE = re.compile(r"^(?P<file>[\w./-]+): (?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")


def named_by_path(doc, path):
    """Words for the part of a rules file or alertmanager.yml that `path` is in:
    'alert rule HighCPU, expr', 'route routes.0 (receiver team)', 'receiver team'."""
    def at(d, p):
        for k in p:
            d = d[int(k)] if isinstance(d, list) else d[k]
        return d
    try:
        if len(path) >= 4 and path[0] == "groups" and path[2] == "rules":
            rule = at(doc, path[:4])
            name = rule.get("alert") or rule.get("record") or f"rule {int(path[3]) + 1}"
            return f"alert rule {name}" + (f", {'.'.join(path[4:])}" if len(path) > 4 else "")
        if path and path[0] == "receivers" and len(path) >= 2:
            return f"receiver {at(doc, path[:2]).get('name', path[1])}"
        if path and path[0] == "route":
            end = max(i for i in range(1, len(path) + 1) if isinstance(at(doc, path[:i]), dict))
            route = at(doc, path[:end])
            where = ".".join(path[1:end]) or "the root route"
            return f"route {where}" + (f" (receiver {route['receiver']})" if route.get("receiver") else "")
        if path and path[0] == "inhibit_rules" and len(path) >= 2:
            return f"inhibit rule {int(path[1]) + 1}"
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return ""
    return ".".join(path)


def locate_tool_message(message, text):
    """A tool's `FILE: LINE:COL: reason` lines about a generated file, said as
    the rule or route they concern: `alert rule HighCPU, expr: reason`. Lines
    that name no line stay as they are."""
    try:
        doc = load_yaml(text)
    except YAMLRefused:
        doc = None
    out = []
    for line in message.splitlines():
        m = TOOL_LINE.match(line.strip())
        path = path_at_line(text, int(m["line"])) if m else ()
        where = named_by_path(doc, path) if doc is not None and path else ""
        out.append(f"{where}: {m['rest']}" if where else line)
    return "\n".join(out)
