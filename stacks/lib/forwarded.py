"""Who the client is when proxies stand in between: X-Forwarded-For is believed
only from a proxy the install trusts, and then only as far as the chain of
trusted proxies goes (the right-most address that is not itself one of them).
Anything a client writes into the header before that is not evidence."""
import ipaddress


def parse_networks(entries):
    """Addresses and CIDRs ("10.0.0.0/8", "::1") as networks; ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or a network (CIDR)") from None
    return tuple(networks)


def parse_address(text):
    """An address as proxies write it ("203.0.113.9", "203.0.113.9:5123",
    "[2001:db8::1]:443", "::ffff:10.0.0.1"), or None when it is none."""
    text = (text or "").strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address, networks):
    return address is not None and any(address in net for net in networks if net.version == address.version)


def client_address(peer, forwarded_for, networks):
    """The client's address as a string: the direct peer, unless it is a trusted
    proxy; then the right-most X-Forwarded-For entry that is not a trusted proxy.
    An entry that is not an address ends the walk at the last proxy vouched for."""
    current = parse_address(peer)
    if current is None:
        return peer or None
    if not forwarded_for or not is_trusted(current, networks):
        return str(current)
    for entry in reversed(forwarded_for.split(",")):
        hop = parse_address(entry)
        if hop is None:
            break
        current = hop
        if not is_trusted(hop, networks):
            break
    return str(current)
