"""Field validators and value checks the definition rows share."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from stacks.lib.update_window import parse as parse_window

compose_name = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$",
    "Use lower-case letters, digits, '-' and '_' (Compose's rule for names), starting with a letter or digit.",
)
receiver_name = RegexValidator(
    r"^[A-Za-z0-9_-]+$",
    "Use letters, digits, '-' and '_' only: Alertmanager escapes other characters in the webhook it sends.",
)
label_name = RegexValidator(r"^[a-zA-Z_][a-zA-Z0-9_]*$", "Not a valid Prometheus label name.")
duration = RegexValidator(
    r"^((\d+)(ms|s|m|h|d|w|y))+$", "Use a Prometheus duration such as 30s, 5m or 1h30m."
)
alert_name = RegexValidator(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", "Alert names are metric-like: letters, digits, '_' and ':'.")


def check_str_dict(value, what):
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError(f"{what} must be a mapping of text to text.")


def check_str_list(value, what):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{what} must be a list of text items.")


DNS_SD_KEYS = {"names", "type", "port", "refresh_interval"}


def dns_sd_problem(configs):
    """What is wrong with a job's dns_sd_configs as the rows keep them, or ''."""
    if not isinstance(configs, list):
        return "A list of DNS discovery entries."
    for i, cfg in enumerate(configs):
        where = f"entry {i + 1}"
        if not isinstance(cfg, dict) or set(cfg) - DNS_SD_KEYS:
            return f"{where}: a mapping of {', '.join(sorted(DNS_SD_KEYS))}."
        names = cfg.get("names")
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) and re.match(r"^[A-Za-z0-9_.-]+$", n) for n in names):
            return f"{where}: names is a list of DNS names."
        kind = cfg.get("type", "SRV")
        if kind not in ("A", "AAAA", "SRV"):
            return f"{where}: type is A, AAAA or SRV."
        port = cfg.get("port")
        if kind != "SRV" and not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            return f"{where}: a type {kind} lookup needs the port to scrape (1-65535)."
        if kind == "SRV" and port is not None:
            return f"{where}: an SRV record names its own port; leave port out."
        if "refresh_interval" in cfg and not (isinstance(cfg["refresh_interval"], str) and re.match(
                r"^((\d+)(ms|s|m|h|d|w|y))+$", cfg["refresh_interval"])):
            return f"{where}: refresh_interval is a duration such as 30s."
    return ""




def update_window(value):
    """An update window is HH:MM-HH:MM."""
    try:
        parse_window(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
