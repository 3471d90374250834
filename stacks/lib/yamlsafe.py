"""Reading YAML a user hands us, with bounds: a size limit on the text, a
budget on parse events and nesting depth (libyaml's C scanner, composed here
without recursion), and a budget on what aliases expand to, so that an alias
bomb, a document nested a thousand deep or a megabyte of flow YAML is refused
in about a second with bounded memory instead of a RecursionError or minutes
of CPU. The one YAML reader for everything a user gives the panel; the line of
each mapping key is kept from the same parse (key_lines) for pages that number
a pasted text."""
import hashlib
import threading
from collections import OrderedDict

import yaml
from yaml import events as ev
from yaml import nodes

MAX_TEXT_BYTES = 1_000_000  # one Compose or config file
MAX_EVENTS = 100_000  # parse events (about one per value): a large Compose file has a few thousand
MAX_NODES = 200_000  # scalars and collections after every alias is expanded
MAX_DEPTH = 64  # nested collections: a Compose file needs about 8
LINE_DEPTH = 3  # key_lines keeps the keys of the first three levels (services.NAME.key)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class YAMLRefused(ValueError):
    pass


def _expanded_size(root, budget):
    """Nodes the document has once aliases are expanded, counted on the composed
    graph (where an alias is a shared node), memoised so the count itself stays
    linear in the text; stops as soon as the budget is passed. The depth is
    bounded by MAX_DEPTH, so the recursion is too."""
    sizes = {}

    def size(node):
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = budget + 1  # a node reached again while being counted: recursion, refuse
        if isinstance(node, nodes.ScalarNode):
            total = 1
        elif isinstance(node, nodes.SequenceNode):
            total = 1
            for child in node.value:
                total += size(child)
                if total > budget:
                    break
        else:
            total = 1
            for k, v in node.value:
                total += size(k) + size(v)
                if total > budget:
                    break
        sizes[key] = total
        return total

    return size(root)


def _where(mark, what):
    return f"line {mark.line + 1}" if mark is not None else what


def _compose(loader, what, max_events, max_depth):
    """The single document's node graph, built from the parser's events with an
    explicit stack (PyYAML's own composer recurses once per level)."""
    anchors, stack, root, count, documents = {}, [], None, 0, 0
    while True:
        event = loader.get_event()
        if event is None:
            break
        count += 1
        if count > max_events:
            raise YAMLRefused(f"{what}: more than {max_events} values; refused.")
        kind = type(event)
        if kind is ev.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise YAMLRefused(f"{_where(event.start_mark, what)}: a second YAML document; one is expected.")
            continue
        if kind is ev.AliasEvent:
            if event.anchor not in anchors:
                raise YAMLRefused(f"{_where(event.start_mark, what)}: not valid YAML (found undefined alias "
                                  f"{event.anchor!r})")
            node = anchors[event.anchor]
        elif kind is ev.ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(nodes.ScalarNode, event.value, event.implicit)
            node = nodes.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            _anchor(anchors, event, node, what)
        elif kind is ev.SequenceStartEvent or kind is ev.MappingStartEvent:
            cls = nodes.SequenceNode if kind is ev.SequenceStartEvent else nodes.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(cls, None, event.implicit)
            node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
            _anchor(anchors, event, node, what)
            if len(stack) >= max_depth:
                raise YAMLRefused(f"{_where(event.start_mark, what)}: nested more than {max_depth} deep; refused.")
            stack.append([node, None])
            continue
        elif kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
            node = stack.pop()[0]
            node.end_mark = event.end_mark
        else:  # stream start/end, document end
            continue
        if not stack:
            root = node
        else:
            top = stack[-1]
            if isinstance(top[0], nodes.SequenceNode):
                top[0].value.append(node)
            elif top[1] is None:
                top[1] = node
            else:
                top[0].value.append((top[1], node))
                top[1] = None
    return root


_OPEN = (ev.SequenceStartEvent, ev.MappingStartEvent)
_CLOSE = (ev.SequenceEndEvent, ev.MappingEndEvent)


def _count(loader, what, max_events, max_depth):
    """A first pass over the parser's events, counting them and the depth: cheap
    (the events come from libyaml), so that a text over a budget is refused in a
    fraction of the time composing it would take."""
    count = depth = 0
    while (event := loader.get_event()) is not None:
        count += 1
        if count > max_events:
            raise YAMLRefused(f"{what}: more than {max_events} values; refused.")
        if isinstance(event, _OPEN):
            depth += 1
            if depth > max_depth:
                raise YAMLRefused(f"{_where(event.start_mark, what)}: nested more than {max_depth} deep; refused.")
        elif isinstance(event, _CLOSE):
            depth -= 1


def _anchor(anchors, event, node, what):
    if event.anchor is None:
        return
    if event.anchor in anchors:
        raise YAMLRefused(f"{_where(event.start_mark, what)}: not valid YAML (found duplicate anchor "
                          f"{event.anchor!r})")
    anchors[event.anchor] = node


def compose_yaml(text, what="file", max_bytes=MAX_TEXT_BYTES, max_nodes=MAX_NODES, max_depth=MAX_DEPTH):
    """YAML text → its node graph (with line marks), bounded; YAMLRefused naming
    the line and the reason. None for an empty document."""
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise YAMLRefused(f"{what}: {len(text)} bytes, over the limit of {max_bytes}.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise YAMLRefused(f"{what}: not UTF-8 text.") from None
    elif len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise YAMLRefused(f"{what}: over the limit of {max_bytes} bytes.")
    loader = _Loader(text)
    try:
        _count(loader, what, MAX_EVENTS, max_depth)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YAMLRefused(f"{_where(mark, what)}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    finally:
        loader.dispose()
    loader = _Loader(text)
    try:
        node = _compose(loader, what, MAX_EVENTS, max_depth)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YAMLRefused(f"{_where(mark, what)}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    finally:
        loader.dispose()
    if node is not None:
        if _expanded_size(node, max_nodes) > max_nodes:
            raise YAMLRefused(f"{what}: its aliases expand past {max_nodes} values (an alias bomb?); refused.")
        _remember_lines(text, node)
    return node


def load_yaml(text, what="file", max_bytes=MAX_TEXT_BYTES, max_nodes=MAX_NODES, max_depth=MAX_DEPTH):
    """YAML text → data, or YAMLRefused naming the line and the reason."""
    node = compose_yaml(text, what, max_bytes, max_nodes, max_depth)
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YAMLRefused(f"{_where(mark, what)}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:  # a merge key (<<) chain: bounded by MAX_DEPTH, but say so rather than fail
        raise YAMLRefused(f"{what}: nested too deeply.") from None


# --- line numbers of the last texts read ---------------------------------------

_LINES = OrderedDict()  # sha256 of a text → {key path: line}, for the last few texts read
_LINES_KEPT = 16
_lines_lock = threading.Lock()


def _digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _remember_lines(text, root):
    lines = {}
    todo = [((), root)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, nodes.MappingNode) and len(path) < LINE_DEPTH:
            for key, value in node.value:
                if isinstance(key, nodes.ScalarNode):
                    lines.setdefault(path + (key.value,), key.start_mark.line + 1)
                    todo.append((path + (key.value,), value))
    with _lines_lock:
        _LINES[_digest(text)] = lines
        _LINES.move_to_end(_digest(text))
        while len(_LINES) > _LINES_KEPT:
            _LINES.popitem(last=False)


def key_lines(text):
    """{("services", "web"): 3, …}: the line of each mapping key of the first
    levels, from the parse that read this text (or a bounded parse now when it
    was not read lately); {} when the text is not YAML the panel would read."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return {}
    with _lines_lock:
        found = _LINES.get(_digest(text))
    if found is not None:
        return found
    try:
        compose_yaml(text)
    except YAMLRefused:
        return {}
    with _lines_lock:
        return _LINES.get(_digest(text), {})
