"""One Docker client per engine row, built from the row (address, TLS material),
never from the process environment alone; and which engine the code running now
is working on (a context variable set around each operation, poll or log fetch)."""
import contextlib
import contextvars
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import docker
import docker.errors
import docker.tls
import requests.exceptions
from django.conf import settings

from stacks.engine.addresses import address_problem
from stacks.engine.errors import EngineError

_current = contextvars.ContextVar("panel_engine", default=None)
_clients = {}
_pinged = {}  # key → when the engine last answered a ping
_lock = threading.Lock()
PING_EVERY = 1.0  # seconds: one ping serves the calls of one operation, not each of them


def _key(engine):
    if engine is None:
        return ("", "", "")
    material = hashlib.sha256((engine.tls_ca + engine.tls_cert + engine.tls_key).encode()).hexdigest()
    return (engine.name, engine.docker_host, material)


def _tls_files(engine):
    """docker-py reads TLS material from files: written once per content into a
    private directory (0700, files 0600), never into the stacks directory."""
    digest = _key(engine)[2][:16]
    base = Path(tempfile.gettempdir()) / f"panel-tls-{os.getuid()}" / f"{engine.name}-{digest}"
    if not (base / "key.pem").exists():
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, text in (("ca.pem", engine.tls_ca), ("cert.pem", engine.tls_cert), ("key.pem", engine.tls_key)):
            path = base / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
    return base / "ca.pem", base / "cert.pem", base / "key.pem"


NO_TIMEOUT = object()


def build(engine, timeout=None):
    """A new DockerClient for the row (None: the process's own engine);
    timeout=NO_TIMEOUT for a stream that may stay quiet for long (logs --follow)."""
    timeout = None if timeout is NO_TIMEOUT else (timeout or settings.DOCKER_TIMEOUT)
    if engine is None or not engine.docker_host:
        return docker.from_env(timeout=timeout)
    if problem := address_problem(engine.docker_host):  # its name may resolve elsewhere since it was saved
        raise EngineError(problem, permanent=True)
    kwargs = {"base_url": engine.docker_host, "timeout": timeout}
    if engine.uses_tls:
        ca, cert, key = _tls_files(engine)
        kwargs["tls"] = docker.tls.TLSConfig(ca_cert=str(ca), client_cert=(str(cert), str(key)), verify=True)
    if engine.docker_host.startswith("ssh://"):
        kwargs["use_ssh_client"] = True  # the system's ssh: its config, agent and known_hosts
    if not engine.uses_tls:
        return docker.DockerClient(**kwargs)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's CA: the
    # engine's own CA must win, so the session ignores the environment before its
    # first request (the API version is negotiated afterwards, as "auto" would).
    c = docker.DockerClient(version="1.41", **kwargs)
    c.api.trust_env = False
    c.api._version = c.api._retrieve_server_version()
    return c


def client_for(engine):
    """The cached client of an engine, pinged; EngineError when it does not answer."""
    key = _key(engine)
    with _lock:
        c = _clients.get(key)
        if c is None:
            try:
                c = _clients[key] = build(engine)
            except docker.errors.DockerException as exc:
                raise EngineError(f"Engine {_name(engine)}: cannot connect ({exc}).") from exc
    if time.monotonic() - _pinged.get(key, float("-inf")) < PING_EVERY:
        return c  # answered a moment ago: an operation asks for its client several times
    try:
        c.ping()
        _pinged[key] = time.monotonic()
        return c
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        with _lock:
            _clients.pop(key, None)
            _pinged.pop(key, None)
        raise EngineError(f"The Docker engine {_name(engine)} ({engine.address if engine else 'local'}) "
                          "is unreachable.") from exc


def _name(engine):
    return engine.name if engine is not None else "local"


def current():
    return _current.get()


_hostnames = {}


def host_name(api):
    """The host the current engine runs on (docker info's Name): where a Compose
    container runs, on the stack page. Asked once per engine and process."""
    key = _key(_current.get())
    if key not in _hostnames:
        _hostnames[key] = api.info().get("Name", "")
    return _hostnames[key]


def current_client():
    return client_for(_current.get())


def streaming():
    """A client of the current engine of its own, with no read timeout: a followed
    log stream may be quiet for longer than any timeout. Closed with its stream."""
    engine = _current.get()
    client_for(engine)  # reachable, or EngineError in the usual words
    try:
        return build(engine, timeout=NO_TIMEOUT)
    except docker.errors.DockerException as exc:
        raise EngineError(f"Engine {_name(engine)}: cannot connect ({exc}).") from exc


@contextlib.contextmanager
def using(engine):
    """Everything inside talks to `engine` (threads started inside need copy_context)."""
    token = _current.set(engine)
    try:
        yield engine
    finally:
        _current.reset(token)


def reachable(engine, timeout=3):
    """Whether this process can reach the engine now (a worker deciding what to serve)."""
    try:
        c = build(engine, timeout=timeout)
        try:
            c.ping()
        finally:
            c.close()
        return True
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False
