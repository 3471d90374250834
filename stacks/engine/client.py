"""The Docker seam: the client of the engine the current work is on (connect.py
builds one per engine row), and EngineError: what went wrong, in plain words, and
whether trying again can help (`permanent`)."""
import functools
import logging

import docker
import docker.errors
import requests.exceptions

from stacks.engine.connect import current_client
from stacks.engine.errors import EngineError
from stacks.lib import imageref

log = logging.getLogger(__name__)
PULL_ATTEMPTS = 3  # a registry that hiccups (not permanent) gets another try


def client():
    """The client of the engine the current operation works on (connect.using);
    the process's own engine when none is set."""
    return current_client()


def api():
    """docker-py's low-level API client, checked reachable."""
    return client().api


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


def translated(what):
    """Decorator: docker-py and transport errors leave as EngineError."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise explain(exc, what) from None
        return inner
    return wrap


def image_id(api, image):
    """The local id of an image, or "" when the engine does not have it."""
    try:
        return api.inspect_image(image)["Id"]
    except docker.errors.ImageNotFound:
        return ""
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise explain(exc, f"image {image}") from None


def auth_config(image, auth):
    """docker-py's auth_config for pulling `image`: the login stored for its
    registry in `auth` ({host: {"username", "password", …}}), or None."""
    found = (auth or {}).get(imageref.parse(image).registry)
    if not found or not found.get("username"):
        return None
    return {"username": found["username"], "password": found.get("password", ""),
            "serveraddress": found.get("serveraddress") or imageref.parse(image).registry}


def pull(api, image, report, auth=None):
    """Streamed pull with per-layer progress, with the login stored for the
    image's registry (`auth`: {host: credentials}, plain values); errors inside
    the stream are raised, a refused login and a missing image in plain words."""
    if "@" in image:
        repo, tag = image.split("@", 1)
    else:
        repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    login = auth_config(image, auth)
    for attempt in range(1, PULL_ATTEMPTS + 1):
        try:
            return _pull_once(api, image, repo, tag, report, login)
        except EngineError as exc:
            if exc.permanent or attempt == PULL_ATTEMPTS:
                raise
            report(f"{exc}; trying again ({attempt + 1}/{PULL_ATTEMPTS})")


def pull_failure(image, text, login):
    """Why a pull failed, in the user's words: a refused login, no login stored,
    no such image or tag, or the registry's own text."""
    host = imageref.parse(image).registry
    low = text.lower()
    if any(s in low for s in ("unauthorized", "authentication required", "no basic auth credentials",
                              "incorrect username or password", "denied")):
        if login:
            why = (f"the registry {host} refused the login stored for it (user {login['username']}): "
                   "check its user name and password (manage.py registry add NAME URL --username U "
                   "--password-stdin replaces them)")
        else:
            why = (f"the registry {host} asks for a login and none is stored for it "
                   "(manage.py registry add NAME URL --username U --password-stdin)")
        return EngineError(f"Cannot pull image {image}: {why}. The registry said: {text.strip()}", permanent=True)
    if "manifest unknown" in low or "not found" in low:
        return EngineError(f"Cannot pull image {image}: the registry {host} has no such image or tag "
                           f"({text.strip()}).", permanent=True)
    return EngineError(f"Cannot pull image {image}: {text.strip()}", permanent=True)


def _pull_once(api, image, repo, tag, report, login=None):
    report(f"Pulling {image}")
    last = {}
    try:
        for event in api.pull(repo, tag=tag, stream=True, decode=True, auth_config=login):
            if "error" in event:
                raise pull_failure(image, event["error"], login)
            layer, status = event.get("id"), event.get("status", "")
            detail = event.get("progressDetail") or {}
            if layer and detail.get("total"):
                pct = int(100 * detail.get("current", 0) / detail["total"])
                if pct - last.get((layer, status), -100) >= 25 or (pct == 100 and last.get((layer, status)) != 100):
                    last[(layer, status)] = pct
                    report(f"{image} layer {layer}: {status} {pct}%", "progress")
            elif layer and status in ("Pull complete", "Already exists"):
                report(f"{image} layer {layer}: {status}", "progress")
    except docker.errors.APIError as exc:
        text = exc.explanation or str(exc)
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        failure = pull_failure(image, text, login)
        if str(failure) == f"Cannot pull image {image}: {text.strip()}":
            host = imageref.parse(image).registry
            hint = ("" if login else f"; no login is stored for {host}: if it is private, add one with "
                    "manage.py registry add NAME URL --username U --password-stdin")
            failure = EngineError(f"{failure} (no such image, a private registry, or no network{hint}).",
                                  permanent=True)
        raise failure from None
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"Cannot pull image {image}: registry unreachable ({exc.__class__.__name__}).") from None
    report(f"Pulled {image}")


def registry_login(api, image, auth):
    """Log the client in to `image`'s registry with the login in `auth` (docker-py
    then sends it as X-Registry-Auth with service create/update, for the nodes);
    the login used, or None when none is stored. A refused one raises."""
    login = auth_config(image, auth)
    if not login:
        return None
    try:
        api.login(login["username"], login["password"], registry=login["serveraddress"], reauth=True)
    except docker.errors.APIError as exc:
        text = exc.explanation or str(exc)
        raise pull_failure(image, text.decode(errors="replace") if isinstance(text, bytes) else text,
                           login) from None
    except requests.exceptions.RequestException as exc:
        raise explain(exc, f"logging in to {login['serveraddress']}") from None
    return login


def tag(api, source, reference):
    """Point the local tag `reference` (repo:tag) at the image `source` (an
    update pulled by digest: the tag follows, so the next deploy sees it)."""
    ref = imageref.parse(reference)
    try:
        api.tag(source, ref.name, ref.tag or "latest", force=True)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise explain(exc, f"tagging {reference}") from None


def build(api, image, context, dockerfile, report, args=None, target=None):
    if isinstance(args, list):  # Compose's list form: ["KEY=value"]
        args = dict(a.partition("=")[::2] for a in args)
    try:
        for event in api.build(path=str(context), dockerfile=dockerfile or None, tag=image, rm=True, decode=True,
                               buildargs={k: str(v) for k, v in (args or {}).items()} or None, target=target):
            if "error" in event:
                raise EngineError(f"Build of {image} failed: {event['error'].strip()}", permanent=True)
            line = (event.get("stream") or "").strip()
            if line.startswith("Step "):
                report(f"{image}: {line}", "progress")
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise explain(exc, f"Build of {image}") from None
