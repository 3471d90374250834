"""A daily time window ("02:00-04:30", may pass midnight) in which image
updates may be applied. Pure."""
import re
from datetime import time

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse(window):
    """(start, end) times of "HH:MM-HH:MM"; ValueError in the user's words."""
    m = _WINDOW.match((window or "").strip())
    if not m:
        raise ValueError(f"{window!r} is not a window: write HH:MM-HH:MM, e.g. 02:00-04:00.")
    return time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))


def contains(window, moment):
    """Whether the time of day `moment` (a datetime or time) is inside `window`;
    an empty window is always open."""
    if not window:
        return True
    start, end = parse(window)
    now = moment if isinstance(moment, time) else moment.time()
    now = now.replace(second=0, microsecond=0, tzinfo=None)
    return start <= now < end if start <= end else (now >= start or now < end)
