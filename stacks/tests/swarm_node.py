"""A second Swarm node on this machine: a dockerd in a network namespace of the
test's own (ip netns, a veth pair to the host) and a UTS namespace of its own (a
host name of its own, so Swarm and the panel can tell the nodes apart), joined as
a worker to the Swarm initialised on the local engine.

Why a network namespace: both daemons then have their own interfaces, bridge,
firewall and addresses (the second daemon's docker0 is its own, never the host's),
and the swarm's traffic (2377 control, 7946 gossip, 4789 VXLAN) runs over the veth
as it would between two hosts. The daemon keeps the host's mount namespace (it
enters only the network and UTS namespaces, as `nsenter --net` would): `ip netns
exec` remounts /sys, which hides the cgroup filesystem a daemon needs."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
HOST_IP, NODE_IP = "10.218.77.1", "10.218.77.2"  # the veth pair; clear of 172.17–172.26 and the other test daemon
SWARM_POOL = "10.222.0.0/16"  # overlay subnets, clear of the veth


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _enter(netns_path, hostname):
    """preexec_fn of the daemon: its own host name, the test's network namespace."""
    def pre():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUTS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUTS)")
        socket.sethostname(hostname)
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns({netns_path})")
        finally:
            os.close(fd)
        os.setsid()
    return pre


class NamespacedNode:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.netns = f"pnode-{tag}"
        self.host_if, self.node_if = f"pvh{tag}", f"pvn{tag}"
        self.hostname = f"panel-node-{tag}"
        self.root = Path(f"/var/lib/panel-test-node-{tag}")  # same filesystem as /var/lib/docker: overlay2 works
        self.exec_root = Path(f"/run/ptn-{tag}")  # short: socket paths have a length limit
        self.host = f"unix://{self.exec_root}/docker.sock"
        self.proc = None
        self.node_id = ""

    # --- the namespace and its link to the host --------------------------------------
    def start(self):
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.node_if, "netns", self.netns)
        _ip("addr", "add", f"{HOST_IP}/24", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        for args in (("addr", "add", f"{NODE_IP}/24", "dev", self.node_if), ("link", "set", self.node_if, "up"),
                     ("link", "set", "lo", "up"), ("route", "add", "default", "via", HOST_IP)):
            _ip("-n", self.netns, *args)
        self.root.mkdir(parents=True)
        self.log = open(self.root / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.exec_root),
             "--pidfile", str(self.root / "dockerd.pid"), "-H", self.host,
             "--bip", "10.219.0.1/24", "--default-address-pool", "base=10.220.0.0/16,size=24"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_enter(f"/run/netns/{self.netns}", self.hostname))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the node's dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
            if self.cli("info", check=False).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError("the node's dockerd did not answer within 60s")

    def cli(self, *args, check=True):
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, check=check,
                              timeout=120)

    def load_images(self, *tags):
        """No registry here: images move with save | load."""
        save = subprocess.Popen(["docker", "image", "save", *tags], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.host, "image", "load", "-q"], stdin=save.stdout, check=True,
                       capture_output=True)
        save.wait()

    def join(self, token):
        """Join the Swarm whose manager listens on the host's end of the veth."""
        self.cli("swarm", "join", "--advertise-addr", NODE_IP, "--token", token, f"{HOST_IP}:2377")
        self.node_id = self.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        return self.node_id

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.cli("swarm", "leave", "--force", check=False)
                for cid in self.cli("ps", "-aq", check=False).stdout.split():
                    self.cli("rm", "-f", cid, check=False)
                self.proc.terminate()
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
        finally:
            for mount in reversed(Path("/proc/mounts").read_text().splitlines()):  # deepest first
                point = mount.split()[1]
                if point.startswith((str(self.root), str(self.exec_root))):
                    subprocess.run(["umount", "-l", point], check=False, capture_output=True)
            _ip("link", "del", self.host_if, check=False)
            _ip("netns", "del", self.netns, check=False)
            subprocess.run(["umount", "-R", str(self.exec_root)], check=False, capture_output=True)
            shutil.rmtree(self.exec_root, ignore_errors=True)
            shutil.rmtree(self.root, ignore_errors=True)
