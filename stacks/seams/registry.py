"""An image registry over the OCI distribution API: the digest a tag points to
now (a manifest HEAD, which Docker Hub does not count against its pull limit)
and a repository's tags. Token auth (a 401 names the realm; the token is asked
for with the stored credentials, or anonymously) and plain basic auth; a 429 is
waited out as its Retry-After says. Every failure is a RegistryError saying
whether trying again can help. Credentials are never logged nor put in errors."""
import base64
import email.utils
import hashlib
import re
import tempfile
import threading
import time
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from stacks.lib.errors import SeamError

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
RETRY_AFTER_MAX = 60  # seconds: a registry asking for longer is reported, not waited for
ATTEMPTS_429 = 4
TAGS_PAGE = 1000
CERTS_D = Path("/etc/docker/certs.d")  # where dockerd finds a registry's CA: trusted here too


class RegistryError(SeamError):
    pass


def _ca_file(pem):
    """A file holding `pem` (requests wants a path), one per distinct CA."""
    path = Path(tempfile.gettempdir()) / f"panel-registry-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


def _retry_after(value):
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else 1.0


def _challenge(header):
    """("bearer"|"basic", {realm, service, scope}) of a WWW-Authenticate header."""
    scheme, _, rest = (header or "").partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    """One registry, as one user: share it between threads (the connection pool
    holds `pool` connections; tokens are cached per scope)."""

    def __init__(self, host, username="", password="", ca_pem="", timeout=10, pool=4, scheme="https"):
        self.host = host
        self.base = f"{scheme}://{'registry-1.docker.io' if host == 'docker.io' else host}"
        self._credentials = (username, password) if username else None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.mount(self.base, HTTPAdapter(pool_connections=1, pool_maxsize=pool))
        certs_d = CERTS_D / host / "ca.crt"
        # Passed on each request: a session's own `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify = _ca_file(ca_pem) if ca_pem else (str(certs_d) if certs_d.is_file() else True)
        self._tokens = {}
        self._basic = False
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests made (the bench reports them per tag)

    def __repr__(self):
        return f"Registry({self.host})"

    # --- what callers ask -------------------------------------------------------------
    def digest(self, repository, tag):
        """The digest `repository:tag` points to now (Docker-Content-Digest)."""
        resp = self._request("HEAD", f"/v2/{repository}/manifests/{tag}", repository,
                             headers={"Accept": MANIFEST_TYPES})
        if resp.status_code == 404:
            raise RegistryError(f"{self.host}/{repository}:{tag}: no such image or tag in the registry.",
                                permanent=True)
        self._raise_for(resp, f"{repository}:{tag}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest.startswith("sha256:"):
            raise RegistryError(f"{self.host} gave no digest for {repository}:{tag}.", permanent=True)
        return digest

    def tags(self, repository):
        """Every tag of `repository`, following the pagination (Link / last)."""
        out, path = [], f"/v2/{repository}/tags/list?n={TAGS_PAGE}"
        while path:
            resp = self._request("GET", path, repository)
            if resp.status_code == 404:
                raise RegistryError(f"{self.host}/{repository}: no such repository.", permanent=True)
            self._raise_for(resp, repository)
            try:
                out += resp.json().get("tags") or []
            except ValueError:
                raise RegistryError(f"{self.host} answered the tag list of {repository} with something other "
                                    "than JSON.", permanent=True) from None
            link = re.match(r"<([^>]+)>", resp.headers.get("Link", ""))
            path = link[1] if link else None
        return out

    # --- HTTP, auth and 429 -----------------------------------------------------------
    def _send(self, method, path, headers):
        url = path if path.startswith("http") else self.base + path
        self.requests += 1
        try:
            return self.session.request(method, url, headers=headers, timeout=self.timeout, allow_redirects=True,
                                        verify=self.verify)
        except requests.exceptions.SSLError:
            raise RegistryError(f"{self.host}: its TLS certificate is not trusted (give the registry its CA, "
                                f"or put it in {CERTS_D}/{self.host}/ca.crt).", permanent=True) from None
        except requests.RequestException as exc:
            raise RegistryError(f"{self.host} did not answer ({exc.__class__.__name__}).") from None

    def _request(self, method, path, repository, headers=None):
        headers = dict(headers or {})
        scope = f"repository:{repository}:pull"
        for attempt in range(1, ATTEMPTS_429 + 1):
            auth = self._auth_header(scope)
            resp = self._send(method, path, {**headers, **auth})
            if resp.status_code == 401:
                self._authenticate(resp.headers.get("WWW-Authenticate", ""), scope)
                resp = self._send(method, path, {**headers, **self._auth_header(scope)})
            if resp.status_code != 429:
                return resp
            wait = _retry_after(resp.headers.get("Retry-After"))
            if wait > RETRY_AFTER_MAX or attempt == ATTEMPTS_429:
                raise RegistryError(f"{self.host} is limiting requests (429); it asks to wait {wait:.0f}s.")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _auth_header(self, scope):
        with self._lock:
            token = self._tokens.get(scope)
            if token and token[1] > time.monotonic():
                return {"Authorization": f"Bearer {token[0]}"}
            if self._basic and self._credentials:
                user, password = self._credentials
                return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        return {}

    def _authenticate(self, header, scope):
        scheme, params = _challenge(header)
        if scheme == "basic":
            if not self._credentials:
                raise RegistryError(f"{self.host} asks for a login: add the registry with its credentials "
                                    "(manage.py registry add).", permanent=True)
            with self._lock:
                self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"{self.host} refused the request (401) without saying how to log in.",
                                permanent=True)
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        try:
            self.requests += 1
            resp = self.session.get(params["realm"], params=query, auth=self._credentials, timeout=self.timeout,
                                    verify=self.verify)
        except requests.RequestException as exc:
            raise RegistryError(f"{self.host}'s token service did not answer ({exc.__class__.__name__}).") from None
        if resp.status_code in (401, 403):
            raise RegistryError(f"{self.host} refused the login ({resp.status_code}): check the registry's "
                                "user name and password.", permanent=True)
        if resp.status_code != 200:
            raise RegistryError(f"{self.host}'s token service answered {resp.status_code}.",
                                permanent=400 <= resp.status_code < 500)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{self.host}'s token service gave no token.", permanent=True)
        lifetime = max(30, int(body.get("expires_in") or 60)) - 10
        with self._lock:
            self._tokens[query["scope"]] = (token, time.monotonic() + lifetime)

    def _raise_for(self, resp, what):
        if resp.status_code == 401:
            raise RegistryError(f"{self.host} refused the login for {what}: check the registry's user name and "
                                "password.", permanent=True)
        if resp.status_code == 403:
            raise RegistryError(f"{self.host}: the stored login may not read {what} (403).", permanent=True)
        if resp.status_code >= 400:
            raise RegistryError(f"{self.host} answered {resp.status_code} for {what}.",
                                permanent=resp.status_code < 500)
