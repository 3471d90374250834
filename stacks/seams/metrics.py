"""A component's own /metrics, read with prometheus_client's parser: counters
summed over their series (Prometheus' and Alertmanager's error counters)."""
import requests
from prometheus_client.parser import text_string_to_metric_families


def counters(base, names, timeout, error, what):
    try:
        resp = requests.get(f"{base}/metrics", timeout=timeout)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise error(f"{what} at {base} does not answer ({exc.__class__.__name__}).") from None
    wanted = {name.removesuffix("_total"): name for name in names}
    found = dict.fromkeys(names, 0.0)
    try:
        for family in text_string_to_metric_families(resp.text):
            name = wanted.get(family.name.removesuffix("_total"))
            if name:
                found[name] += sum(s.value for s in family.samples if s.name.endswith("_total"))
    except ValueError as exc:
        raise error(f"{what}'s /metrics could not be read: {exc}") from None
    return found
