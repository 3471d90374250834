"""Engine addresses the panel refuses to connect to: link-local and cloud
metadata endpoints (169.254.169.254 and its kin answer any process on the host
with its cloud credentials). Checked on the addresses a name resolves to, when
an engine row is saved and again each time a client is built for it (a name
may resolve elsewhere later)."""
import ipaddress
import socket
from urllib.parse import urlsplit

REFUSED_NETWORKS = [ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",      # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata (169.254.169.254)
    "fe80::/10",           # IPv6 link-local
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "fd00:ec2::254/128",   # AWS metadata over IPv6
    "168.63.129.16/32",    # Azure's wire server
)]
REFUSED_NAMES = {"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                 "instance-data.ec2.internal", "metadata.azure.internal", "metadata.tencentyun.com"}


def _refused_ip(text):
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return next((n for n in REFUSED_NETWORKS if ip in n), None)


def resolved(host):
    """The addresses `host` resolves to now ([] when it does not resolve)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError, OSError):
        return []


def address_problem(docker_host):
    """Why the panel will not connect to this engine address, or ''. unix://
    and empty (the local socket) are always fine."""
    if not docker_host or not docker_host.startswith(("tcp://", "ssh://")):
        return ""
    host = (urlsplit(docker_host).hostname or "").rstrip(".").lower()
    if not host:
        return f"{docker_host}: no host in the address."
    if host in REFUSED_NAMES:
        return f"{host} is a cloud metadata service, not a Docker engine: refused."
    for ip in [host] if _refused_ip(host) else resolved(host):
        net = _refused_ip(ip)
        if net is not None:
            what = "a link-local address" if net.prefixlen <= 16 else "a cloud metadata address"
            shown = host if ip == host else f"{host} (resolves to {ip})"
            return f"{shown} is {what} ({net}), never a Docker engine the panel may reach: refused."
    return ""
