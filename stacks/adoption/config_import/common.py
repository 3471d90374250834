"""What every config importer shares: the refusal that keeps a file verbatim."""
from django.core.exceptions import ValidationError

from stacks.lib.yamlsafe import load_yaml


class NotExact(Exception):
    """The rows cannot hold this file as it is: keep it verbatim."""


def only(mapping, allowed):
    if not isinstance(mapping, dict) or set(mapping) - set(allowed):
        raise NotExact()
    return mapping


def valid(rows):
    """Rows that would not pass the admin's checks are not made: the file stays."""
    try:
        for row in rows:
            row.full_clean(exclude=["stack", "receiver"])
    except ValidationError:
        raise NotExact() from None


def parse_yaml(text, path):
    """A YAML mapping, or NotExact: a file the panel cannot read is kept as it is;
    the tools (promtool, amtool, Grafana) say what is wrong with it."""
    try:
        data = load_yaml(text, path)
    except ValueError:
        raise NotExact() from None
    if not isinstance(data, dict):
        raise NotExact()
    return data
