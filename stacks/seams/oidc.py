"""The identity provider's discovery document (OpenID Connect Discovery), read
once per process: where to send users, where to trade the code, the keys."""
import threading

import requests

from stacks.lib.errors import SeamError

_cache = {}
_lock = threading.Lock()


class OIDCError(SeamError):
    pass


def discovery(issuer, timeout=5.0):
    issuer = issuer.rstrip("/")
    with _lock:
        if issuer in _cache:
            return _cache[issuer]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise OIDCError(f"The identity provider's discovery document ({url}) is unavailable: {exc}") from exc
    with _lock:
        _cache[issuer] = document
    return document
