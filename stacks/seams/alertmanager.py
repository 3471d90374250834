"""Alertmanager's API v2 (silences, the panel's own events posted as alerts) and
its own metrics: the one module that talks to it. A failure is an
AlertmanagerError with a status ("Alertmanager did not answer", "HTTP 500"):
what an answer says is never echoed to a page, nor the address asked."""
from datetime import timedelta

import requests
from django.utils import timezone

from stacks.lib.errors import SeamError
from stacks.seams.metrics import counters


class AlertmanagerError(SeamError):
    pass


class Alertmanager:
    def __init__(self, base_url, timeout=5):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method, path, **kwargs):
        try:
            resp = requests.request(method, f"{self.base}/api/v2{path}", timeout=self.timeout, allow_redirects=False,
                                    **kwargs)
        except requests.RequestException as exc:
            raise AlertmanagerError(f"Alertmanager did not answer ({exc.__class__.__name__}).") from None
        if resp.status_code >= 300:
            raise AlertmanagerError(f"Alertmanager refused: HTTP {resp.status_code}.", permanent=resp.status_code < 500)
        try:
            return resp.json() if resp.content else None
        except ValueError:
            raise AlertmanagerError(f"Alertmanager answered HTTP {resp.status_code}, not its API's JSON.",
                                    permanent=True) from None

    def create_silence(self, matchers, duration, author, comment):
        now = timezone.now()
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(matchers.items())],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(seconds=duration.total_seconds())).isoformat(),
            "createdBy": author, "comment": comment,
        }
        answer = self._call("POST", "/silences", json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("silenceID"), str):
            raise AlertmanagerError("Alertmanager answered without a silence id.", permanent=True)
        return answer["silenceID"]

    def silences(self, active_only=True):
        found = self._call("GET", "/silences") or []
        try:
            if active_only:
                found = [s for s in found if s["status"]["state"] in ("active", "pending")]
            return sorted(found, key=lambda s: s["endsAt"])
        except (KeyError, TypeError, AttributeError):
            raise AlertmanagerError("Alertmanager answered with silences the panel cannot read.",
                                    permanent=True) from None

    def alerts(self):
        """Alerts Alertmanager holds as active (silenced and inhibited included):
        a resolved alert has left this list."""
        return self._call("GET", "/alerts") or []

    def silence(self, silence_id):
        return self._call("GET", f"/silence/{silence_id}")

    def expire(self, silence_id):
        self._call("DELETE", f"/silence/{silence_id}")

    def post_alerts(self, alerts):
        """[{labels, annotations, startsAt, endsAt, generatorURL}]: an alert with
        endsAt in the past is resolved."""
        self._call("POST", "/alerts", json=alerts)

    def counters(self, names):
        """{name: sum over its series} from Alertmanager's /metrics."""
        return counters(self.base, names, self.timeout, AlertmanagerError, "Alertmanager")
