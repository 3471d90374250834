"""Deterministic YAML and JSON output: data structures in, text out."""
import json

import yaml


class _Dumper(yaml.SafeDumper):
    pass


# Characters a YAML reader folds or rejects when written raw: quote and escape them.
_UNSAFE = {chr(c) for c in range(32) if chr(c) not in "\n"} | {"\x7f", "\x85", "\u2028", "\u2029", "\ufeff"}


def _str_representer(dumper, value):
    if any(ch in _UNSAFE or "\x80" <= ch <= "\x9f" or "\ud800" <= ch <= "\udfff" for ch in value):
        style = '"'
    elif "\n" in value and value == value.strip() and " \n" not in value:
        # Multi-line text (PromQL, descriptions) stays readable as a block.
        style = "|"
    else:
        style = '"' if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(data):
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=float("inf"))


def dump_json(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def sorted_dict(d):
    return {k: d[k] for k in sorted(d)}
