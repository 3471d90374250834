"""The Prometheus / Alertmanager reload seam: `POST /-/reload`, the one HTTP call
the engine makes. Raises ReloadError; `permanent` says whether the program
answered and refused (bad config: retrying cannot help) or could not be reached
(another address, or a signal, may work)."""
import requests

from stacks.lib.errors import SeamError

PORTS = {"prometheus": 9090, "alertmanager": 9093}
TIMEOUT = 10


class ReloadError(SeamError):
    pass


def post_reload(address, role):
    """Ask the program at `address` (an IP) to re-read its files."""
    url = f"http://{address}:{PORTS[role]}/-/reload"
    try:
        resp = requests.post(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise ReloadError(f"{url} unreachable ({exc.__class__.__name__})") from None
    if resp.status_code != 200:
        raise ReloadError(f"HTTP {resp.status_code}: {resp.text.strip()[:300]}", permanent=True)


def reload_any(addresses, role):
    """POST to the first address that answers. Returns True when one took the
    reload, False when none could be reached; a refusal raises at once."""
    for address in addresses:
        try:
            post_reload(address, role)
            return True
        except ReloadError as exc:
            if exc.permanent:
                raise
    return False
