"""Reading YAML a user hands us, with bounds: a size limit on the text and a
budget on what aliases expand to, so that an alias bomb is refused quickly with
bounded memory instead of growing the worker until it is killed."""
import yaml

MAX_TEXT_BYTES = 1_000_000  # one Compose or config file
MAX_NODES = 200_000  # scalars and collections after every alias is expanded


class YAMLRefused(ValueError):
    pass


def _expanded_size(root, budget):
    """Nodes the document has once aliases are expanded, counted on the composed
    graph (where an alias is a shared node), memoised so the count itself stays
    linear in the text; stops as soon as the budget is passed."""
    sizes = {}

    def size(node):
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = budget + 1  # a node reached again while being counted: recursion, refuse
        if isinstance(node, yaml.ScalarNode):
            total = 1
        elif isinstance(node, yaml.SequenceNode):
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


def load_yaml(text, what="file", max_bytes=MAX_TEXT_BYTES, max_nodes=MAX_NODES):
    """YAML text → data, or YAMLRefused naming the line and the reason."""
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise YAMLRefused(f"{what}: {len(text)} bytes, over the limit of {max_bytes}.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise YAMLRefused(f"{what}: not UTF-8 text.") from None
    elif len(text.encode("utf-8")) > max_bytes:
        raise YAMLRefused(f"{what}: over the limit of {max_bytes} bytes.")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, max_nodes) > max_nodes:
            raise YAMLRefused(f"{what}: its aliases expand past {max_nodes} values (an alias bomb?); refused.")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else what
        raise YAMLRefused(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise YAMLRefused(f"{what}: nested too deeply.") from None
    finally:
        loader.dispose()
