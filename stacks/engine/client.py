"""The Docker client of the current engine, and EngineError: what went wrong, in plain words,
and whether trying again can help."""
import logging

import docker
import docker.errors
import requests.exceptions

log = logging.getLogger(__name__)


class EngineError(Exception):
    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.permanent = permanent


def client():
    """The client of the engine the current operation works on (connect.using);
    the process's own engine when none is set."""
    from .connect import current_client

    return current_client()


def explain(exc, what=""):
    """Translate a docker-py error into an EngineError in the user's terms."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, docker.errors.ImageNotFound):
        return EngineError(f"{prefix}image not found.", permanent=True)
    if isinstance(exc, docker.errors.APIError):
        text = exc.explanation or str(exc)
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        if "port is already allocated" in text or "address already in use" in text:
            return EngineError(f"{prefix}a host port it publishes is already taken by another program "
                               f"or container ({text}).", permanent=True)
        return EngineError(f"{prefix}{text}", permanent=exc.status_code is not None and 400 <= exc.status_code < 500)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return EngineError(f"{prefix}the Docker engine did not answer ({exc.__class__.__name__}).")
    return EngineError(f"{prefix}{exc}")
