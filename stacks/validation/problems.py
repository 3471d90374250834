"""A Problem: what is wrong, with the object it concerns, in the user's terms.
Errors block a render and a deploy; warnings are shown and let them through."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    where: str  # "service web", "alert rule HighCPU", "prometheus/prometheus.yml"
    message: str
    severity: str = "error"

    def __str__(self):
        return f"{self.severity}: {self.where}: {self.message}"


def errors(problems):
    return [p for p in problems if p.severity == "error"]
