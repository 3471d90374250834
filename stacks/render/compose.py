"""docker-compose.yml from a stack's rows."""
from stacks.lib.compose_keys import merge_extra
from stacks.lib.composefile import escape_dollars, map_strings, unescape_dollars  # noqa: F401 (Compose's $$ rule)
from stacks.lib.yamlio import sorted_dict

PUBLIC_URL = "${public_url}"


def command_with_public_url(service, public_host):
    """`${public_url}` in a command is the URL the panel publishes the service on
    (its UI port, at STACKS_PUBLIC_HOST): Prometheus' and Alertmanager's
    --web.external-url, so their generatorURL and silence links open in a browser
    instead of naming a container id. An argument that would be left without a
    URL (no published UI port) is dropped."""
    url = service.ui_url(host=public_host)
    command = []
    for arg in service.command:
        if PUBLIC_URL in arg:
            if not url:
                continue
            arg = arg.replace(PUBLIC_URL, url)
        command.append(arg)
    return command


def service_dict(service, secrets, public_host="localhost"):
    s = {}
    if service.image:
        s["image"] = service.image
    if service.build_context:
        build = {"context": service.build_context}
        if service.dockerfile:
            build["dockerfile"] = service.dockerfile
        s["build"] = build
    if service.entrypoint:
        s["entrypoint"] = escape_dollars(list(service.entrypoint))
    if service.command:
        s["command"] = escape_dollars(command_with_public_url(service, public_host))
    if service.environment:
        s["environment"] = {k: secrets.expand(v) for k, v in sorted_dict(service.environment).items()}
    if service.ports:
        s["ports"] = list(service.ports)
    if service.volumes:
        s["volumes"] = escape_dollars(list(service.volumes))
    if service.networks:
        s["networks"] = list(service.networks)
    if service.depends_on:
        s["depends_on"] = {name: {"condition": cond} for name, cond in sorted(service.depends_on.items())}
    if service.healthcheck:
        hc = dict(service.healthcheck)
        order = ["test", "interval", "timeout", "retries", "start_period", "disable"]
        s["healthcheck"] = escape_dollars({k: hc[k] for k in order if k in hc})
    if service.logging_driver:
        logging = {"driver": service.logging_driver}
        if service.logging_options:
            logging["options"] = escape_dollars(sorted_dict(service.logging_options))
        s["logging"] = logging
    if service.replicas != 1:
        s["deploy"] = {"replicas": service.replicas}
    if service.restart and service.restart != "no":
        s["restart"] = service.restart
    if service.labels:
        s["labels"] = escape_dollars(sorted_dict(service.labels))
    if service.extra_hosts:
        s["extra_hosts"] = list(service.extra_hosts)
    if service.user:
        s["user"] = service.user
    if service.extra:
        # Kept keys are written as the user wrote them (no $ escaping: Compose
        # interpolates them as it did before the import).
        s = merge_extra(s, service.extra)
    return s


def compose_dict(stack, services, networks, volumes, secrets, public_host="localhost"):
    # No top-level `name:`: Debian's docker-compose 1.29 schema refuses it; the
    # project name is the stack slug, passed as -p.
    doc = {"services": {svc.name: service_dict(svc, secrets, public_host) for svc in services}}
    if networks:
        doc["networks"] = {}
        for net in networks:
            spec = {}
            if net.name:
                spec["name"] = net.name
            if net.external:
                spec["external"] = True
            elif net.driver:
                spec["driver"] = net.driver
            doc["networks"][net.key] = {**spec, **net.extra}
    if volumes:
        doc["volumes"] = {vol.key: {**({"external": True} if vol.external else {}), **vol.extra} for vol in volumes}
    # Kept top-level keys (configs, secrets, x-…) as written.
    doc.update(stack.compose_extra)
    return doc
