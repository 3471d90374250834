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
import socket
import subprocess
import uuid
from pathlib import Path

from stacks.tests.second_engine import Daemon

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


class NamespacedNode(Daemon):
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
        return self.wait_until_up()

    def cli_args(self):
        return ["docker", "-H", self.host]

    def join(self, token):
        """Join the Swarm whose manager listens on the host's end of the veth."""
        self.cli("swarm", "join", "--advertise-addr", NODE_IP, "--token", token, f"{HOST_IP}:2377")
        self.node_id = self.cli("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        return self.node_id

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.cli("swarm", "leave", "--force", check=False)
            self.stop_daemon()
        finally:
            _ip("link", "del", self.host_if, check=False)
            _ip("netns", "del", self.netns, check=False)
            self.remove_dirs()
