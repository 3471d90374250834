"""Where a problem is in a YAML text: the line of each key path (from PyYAML's
own marks), and the line a problem's message points at ("line 7: …", or a key
path such as `services.web.restart_policy: …`, the deepest key that exists)."""
import re

import yaml

MAX_KEYS = 50000
PATH = re.compile(r"^(?:error: |warning: )?(?:service )?([A-Za-z0-9_.\-]+)[:\s]")


def key_lines(text):
    """{("services", "web", "ports"): 5, …}: the line of each mapping key, and
    of each list item as its index; {} when the text is not YAML. Text as
    written: an alias's keys are at its anchor's lines."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
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
