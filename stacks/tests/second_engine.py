"""A second Docker daemon on this machine, standing in for a second host: its own
data-root, exec-root, pidfile, bridge and address pool, reachable only over
tcp://127.0.0.1:PORT with TLS client certificates generated here (openssl).

Never `--bridge=none` (it deletes the first daemon's docker0). `--iptables=false`
keeps it off the host's firewall, which the first daemon owns; containers on it
publish ports through docker-proxy, which needs no firewall rules."""
import fcntl
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

SWARM_LOCK = "/tmp/panel-swarm.lock"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=panel test CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}-key.pem",
                 "-out", f"{who}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}.pem", cwd=d)
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client-key.pem"}


class Daemon:
    """What the test daemons share: `proc`, `root` (its log is root/dockerd.log),
    `exec_root` and cli_args() come from the subclass."""

    def cli(self, *args, check=True):
        return subprocess.run([*self.cli_args(), *args], capture_output=True, text=True, check=check, timeout=120)

    def wait_until_up(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test's dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
            if self.cli("info", check=False).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"the test's dockerd did not answer within {timeout}s")

    def load_images(self, *tags):
        """No registry here: images move with save | load."""
        save = subprocess.Popen(["docker", "image", "save", *tags], stdout=subprocess.PIPE)
        subprocess.run([*self.cli_args(), "image", "load", "-q"], stdin=save.stdout, check=True, capture_output=True)
        save.wait()

    def stop_daemon(self):
        """Its containers removed, then the daemon stopped (killed after 30 s)."""
        if self.proc and self.proc.poll() is None:
            for cid in self.cli("ps", "-aq", check=False).stdout.split():
                self.cli("rm", "-f", cid, check=False)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)

    def remove_dirs(self):
        """Whatever it left mounted under its directories unmounted (deepest first), then the directories."""
        for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith((str(self.root), str(self.exec_root))):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


class SecondEngine(Daemon):
    def __init__(self, port):
        tag = uuid.uuid4().hex[:6]
        self.port = port
        self.root = Path(f"/var/lib/panel-test-engine-{tag}")  # same filesystem as /var/lib/docker: overlay2 works
        self.exec_root = Path(f"/run/pte-{tag}")  # short: socket paths have a length limit
        self.bridge = f"pte{tag}"
        self.url = f"tcp://127.0.0.1:{port}"
        self.proc = None
        self._lock = None

    def start(self):
        self._lock = open(SWARM_LOCK, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.certs = make_certs(self.root / "certs")
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", "10.213.77.1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        c = self.root / "certs"
        self.log = open(self.root / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.exec_root),
             "--pidfile", str(self.root / "dockerd.pid"), "--bridge", self.bridge,
             "--default-address-pool", "base=10.214.0.0/16,size=24", "--iptables=false", "--ip-masq=false",
             "-H", f"unix://{self.exec_root}/docker.sock",
             "-H", self.url, "--tlsverify", f"--tlscacert={c / 'ca.pem'}", f"--tlscert={c / 'server.pem'}",
             f"--tlskey={c / 'server-key.pem'}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self.wait_until_up()

    def cli_args(self):
        """The Docker CLI against this daemon, over TLS, as a user would run it."""
        c = self.certs
        return ["docker", "-H", self.url, "--tlsverify", f"--tlscacert={c['ca']}", f"--tlscert={c['cert']}",
                f"--tlskey={c['key']}"]

    def stop(self):
        try:
            self.stop_daemon()
            subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
            self.remove_dirs()
        finally:
            if self._lock:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
