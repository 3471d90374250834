"""Deterministic YAML and JSON output: data structures in, text out."""
import json

import yaml


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper, value):
    # Multi-line text (PromQL, descriptions) stays readable as a block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(data):
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=float("inf"))


def dump_json(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def sorted_dict(d):
    return {k: d[k] for k in sorted(d)}
