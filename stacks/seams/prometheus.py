"""Prometheus' HTTP query API, for the panel's graphs: the one module that asks a
stack's Prometheus for data. Every call has a timeout and a bounded number of
points; every failure is a PrometheusError saying whether trying again can help,
as a status ("Prometheus did not answer", "HTTP 500"): what an answer says is
never echoed to a page, nor the address asked."""
import math
import re

import requests

from stacks.lib.errors import SeamError
from stacks.seams.metrics import counters

MAX_POINTS = 600     # per series: enough for a chart a screen wide, small enough to answer fast
MAX_SERIES = 10      # a graph with more lines than this is unreadable anyway


class PrometheusError(SeamError):
    pass


def step_for(start, end, min_step=1, max_points=MAX_POINTS):
    """Seconds between points so that [start, end] holds at most max_points."""
    return max(min_step, math.ceil((end - start) / max(1, max_points - 1)))


class Prometheus:
    def __init__(self, base_url, timeout=5):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def query_range(self, expr, start, end, step, max_series=MAX_SERIES):
        """[{"labels": {...}, "points": [(unix_seconds, float|None), ...]}] for start..end
        (datetimes), at most MAX_POINTS points and max_series series."""
        t0, t1 = start.timestamp(), end.timestamp()
        step = max(step, step_for(t0, t1))
        params = {"query": expr, "start": f"{t0:.3f}", "end": f"{t1:.3f}", "step": f"{step}s",
                  "timeout": f"{int(self.timeout * 1000)}ms"}
        try:
            resp = requests.get(f"{self.base}/api/v1/query_range", params=params, timeout=self.timeout + 1,
                                allow_redirects=False)
        except requests.RequestException as exc:
            raise PrometheusError(f"Prometheus did not answer ({exc.__class__.__name__}).") from None
        try:
            body = resp.json()
        except ValueError:
            raise PrometheusError(f"Prometheus answered HTTP {resp.status_code}, not its API's JSON.",
                                  permanent=resp.status_code < 500) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            # 400/422: the expression itself is wrong; trying again will not help. Its
            # errorType (bad_data, timeout, …) is a word of Prometheus' API: shown when it is one.
            kind = body.get("errorType") if isinstance(body, dict) else None
            kind = f", {kind}" if isinstance(kind, str) and re.fullmatch(r"[a-z_]{1,30}", kind) else ""
            raise PrometheusError(f"Prometheus refused the query (HTTP {resp.status_code}{kind}).",
                                  permanent=resp.status_code in (400, 422))
        try:
            data = body.get("data") or {}
            if data.get("resultType") != "matrix":
                raise PrometheusError("Prometheus did not answer with a range of values.", permanent=True)
            out = []
            for series in data["result"][:max_series]:
                points = [(float(t), _number(v)) for t, v in series["values"][:MAX_POINTS * 2]]
                labels = {str(k): str(v) for k, v in dict(series["metric"]).items()}
                out.append({"labels": labels, "points": points})
        except (AttributeError, KeyError, TypeError, ValueError):
            raise PrometheusError("Prometheus answered with data the panel cannot read.", permanent=True) from None
        return out, step

    def alertmanagers(self):
        """(active, dropped) Alertmanager URLs, as Prometheus' service discovery left them."""
        try:
            body = requests.get(f"{self.base}/api/v1/alertmanagers", timeout=self.timeout).json()
            data = body["data"]
            return ([a["url"] for a in data.get("activeAlertmanagers") or []],
                    [a["url"] for a in data.get("droppedAlertmanagers") or []])
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise PrometheusError(f"Prometheus at {self.base} does not answer ({exc.__class__.__name__}).") from None

    def counters(self, names):
        """{name: sum over its series} from Prometheus' own /metrics."""
        return counters(self.base, names, self.timeout, PrometheusError, "Prometheus")


def _number(text):
    value = float(text)
    return value if math.isfinite(value) else None
