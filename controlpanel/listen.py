"""Where the panel's web server listens: 127.0.0.1 and the Docker bridge's
gateway address (what `host.docker.internal:host-gateway` resolves to inside
the stacks' containers, so Alertmanager and Prometheus reach the webhook and
/metrics), never every interface unless PANEL_BIND asks for it.

`python -m controlpanel.listen [--port N]` prints gunicorn's `-b` arguments."""
import argparse
import fcntl
import ipaddress
import os
import socket
import struct
import sys

SIOCGIFADDR = 0x8915


def interface_ipv4(name):
    """The IPv4 address of a network interface, or '' when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:
            return ""
    return socket.inet_ntoa(packed[20:24])


def bridge_gateway():
    # Docker's host-gateway is the default bridge's address (docker0 unless
    # dockerd runs with another --bridge).
    return interface_ipv4(os.environ.get("PANEL_DOCKER_BRIDGE", "docker0"))


def addresses(port=8000):
    """[host:port, …] to bind."""
    chosen = os.environ.get("PANEL_BIND", "").replace(",", " ").split()
    if chosen:
        return [a if ":" in a.strip("[]") or a.startswith("[") else f"{a}:{port}" for a in chosen]
    found = [f"127.0.0.1:{port}"]
    gateway = bridge_gateway()
    if gateway and not ipaddress.ip_address(gateway).is_loopback:
        found.append(f"{gateway}:{port}")
    else:
        print("warning: no Docker bridge address found; containers cannot reach the panel's webhook "
              "(set PANEL_BIND).", file=sys.stderr)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PANEL_PORT", "8000")))
    args = parser.parse_args(argv)
    print(" ".join(f"-b {a}" for a in addresses(args.port)))


if __name__ == "__main__":
    main()
