"""Who is behind each scrape target: the stack and service a `host:port` names, as
Prometheus' container resolves it (its own stack first, then the services of
other stacks on a network it shares), so every series carries `stack` and
`service` labels and every alert names where it comes from."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    stack: str
    service: str
    replicas: int = 1
    role: str = ""


def engine_networks(service, networks_by_key, slug):
    """Engine names of the networks a service joins (Compose's `default` when none)."""
    keys = service.networks or ["default"]
    return {networks_by_key[k].engine_name if k in networks_by_key else f"{slug}_{k}" for k in keys}


class Resolver:
    """host → Target, built once per render from rows the caller loaded."""

    def __init__(self, stack, services, networks, prometheus, others=()):
        """`others`: (stack, [services], [networks]) of every other stack."""
        own_nets = {n.key: n for n in networks}
        reach = engine_networks(prometheus, own_nets, stack.slug) if prometheus else set()
        self.hosts = {}
        # Another stack's service is reachable by name only through a shared
        # network; when two stacks share a name there, Docker's DNS answers both,
        # so neither is claimed.
        seen = {}
        for other, svcs, nets in others:
            by_key = {n.key: n for n in nets}
            for svc in svcs:
                if engine_networks(svc, by_key, other.slug) & reach:
                    seen.setdefault(svc.name, []).append(Target(other.slug, svc.name, svc.replicas, svc.role))
        for name, found in seen.items():
            if len(found) == 1:
                self.hosts[name] = found[0]
        for svc in services:  # the stack's own services win: Compose resolves them first
            self.hosts[svc.name] = Target(stack.slug, svc.name, svc.replicas, svc.role)
        if prometheus:
            self.hosts["localhost"] = Target(stack.slug, prometheus.name, 1, prometheus.role)

    def __call__(self, host):
        return self.hosts.get(host)
