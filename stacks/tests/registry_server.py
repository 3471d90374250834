"""Debian's docker-registry started by a test on 127.0.0.1: plain HTTP, or with
htpasswd logins and TLS from a CA the test makes (trusted by dockerd through
/etc/docker/certs.d/HOST/ca.crt, read at each pull: no daemon restart); and small
images (busybox and random bytes) the test pushes to it."""
import io
import os
import shutil
import subprocess
import tarfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

CERTS_D = Path("/etc/docker/certs.d")


def binary():
    found = shutil.which("docker-registry")
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("docker-registry is missing: bin/setup installs it")
        pytest.skip("Debian's docker-registry is not installed (bin/setup installs it)")
    return found


def bcrypt_hash(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as _crypt  # noqa: PLC0415 — deprecated module, imported where its warning is silenced
        # Cost 5, as `htpasswd -B` (apache2-utils) writes by default: the registry checks it on every request.
        return _crypt.crypt(password, _crypt.mksalt(_crypt.METHOD_BLOWFISH, rounds=1 << 5))


def make_ca_and_cert(directory):
    """(ca.crt, server.crt, server.key) under directory: a CA of the test's own and
    a certificate for 127.0.0.1 it signs."""
    d = Path(directory)
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=panel test CA",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey",
        str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"),
        "-out", str(d / "server.crt"))
    return d / "ca.crt", d / "server.crt", d / "server.key"


@dataclass
class RunningRegistry:
    host: str
    url: str
    process: subprocess.Popen
    username: str = ""
    password: str = ""
    ca_pem: str = ""
    certs_dir: Path | None = None

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        if self.certs_dir is not None:
            shutil.rmtree(self.certs_dir, ignore_errors=True)

    @property
    def auth(self):
        return {"username": self.username, "password": self.password} if self.username else None


def start(directory, port, users=None, tls=False):
    """A registry on 127.0.0.1:port storing under directory; users {name: password}
    turn on htpasswd logins; tls serves HTTPS with a CA of its own."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    host = f"127.0.0.1:{port}"
    http = f"http:\n  addr: {host}\n"
    ca_pem, certs_dir = "", None
    if tls:
        ca, cert, key = make_ca_and_cert(directory)
        http += f"  tls:\n    certificate: {cert}\n    key: {key}\n"
        ca_pem = ca.read_text()
        certs_dir = CERTS_D / host
        certs_dir.mkdir(parents=True, exist_ok=True)
        (certs_dir / "ca.crt").write_text(ca_pem)
    auth = ""
    if users:
        (directory / "htpasswd").write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: panel-test\n    path: {directory / 'htpasswd'}\n"
    config = directory / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                      f"{directory}/data\n  delete:\n    enabled: true\n{http}{auth}")
    proc = subprocess.Popen([binary(), "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"{'https' if tls else 'http'}://{host}"
    verify = str(directory / "ca.crt") if tls else True
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(f"{url}/v2/", timeout=1, verify=verify).status_code in (200, 401):
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the registry on {host} did not start")
        time.sleep(0.2)
    user, password = next(iter((users or {}).items()), ("", ""))
    return RunningRegistry(host, url, proc, user, password, ca_pem, certs_dir)


def image(api, reference, size=256 * 1024, command=("sleep", "600")):
    """A small image of its own under `reference` (repo:tag): busybox and random
    bytes, so each one has its own digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        noise = os.urandom(size)
        info = tarfile.TarInfo("noise.bin")
        info.size = len(noise)
        tar.addfile(info, io.BytesIO(noise))
    repo, _, tag = reference.rpartition(":")
    api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag,
                               changes=[f"CMD {list(command)!r}".replace("'", '"')])
    return reference


def push(api, reference, auth=None, remove=True):
    """docker push of a local image; the registry's digest (sha256:…). With
    remove, the local tag goes: only the registry has it then."""
    repo, _, tag = reference.rpartition(":")
    digest = ""
    for event in api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
        assert "error" not in event, event
        digest = (event.get("aux") or {}).get("Digest", digest)
    if remove:
        api.remove_image(reference, force=True)
    return digest
