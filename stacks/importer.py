"""docker-compose.yml → rows. Accepts Compose's short and long syntaxes and
normalises them into the shapes the models store."""
import re
import shlex

from django.db import transaction

from .models import Network, Service, Stack, Volume
from .render.compose import unescape_dollars
from .validate import parse_compose_text

ROLE_BY_IMAGE = [
    ("alertmanager", "alertmanager"), ("prometheus", "prometheus"), ("node-exporter", "node-exporter"),
    ("grafana", "grafana"), ("cadvisor", "cadvisor"), ("elasticsearch", "elasticsearch"),
    ("kibana", "kibana"), ("fluentd", "fluentd"), ("logstash", "logstash"),
    ("postgres", "database"), ("mysql", "database"), ("mariadb", "database"), ("redis", "cache"),
]
UI = {
    "prometheus": ("Prometheus", 9090, "/-/healthy"), "alertmanager": ("Alertmanager", 9093, "/-/healthy"),
    "grafana": ("Grafana", 3000, "/api/health"), "kibana": ("Kibana", 5601, "/api/status"),
    "elasticsearch": ("", 9200, "/_cluster/health"), "cadvisor": ("cAdvisor", 8080, "/healthz"),
}


class ImportError_(ValueError):
    pass


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _as_dict(value, sep="="):
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
    out = {}
    for item in value:
        key, _, val = str(item).partition(sep)
        out[key] = val
    return out


def _port(value):
    if isinstance(value, (int, str)):
        return str(value)
    spec = str(value["target"])
    if value.get("published"):
        spec = f"{value['published']}:{spec}"
        if value.get("host_ip"):
            spec = f"{value['host_ip']}:{spec}"
    if value.get("protocol", "tcp") != "tcp":
        spec += f"/{value['protocol']}"
    return spec


def _volume(value):
    if isinstance(value, str):
        return value
    spec = f"{value.get('source', '')}:{value['target']}" if value.get("source") else value["target"]
    if value.get("read_only"):
        spec += ":ro"
    return spec


def _healthcheck(value):
    if not value:
        return {}
    hc = {k: v for k, v in value.items() if k in ("interval", "timeout", "retries", "start_period", "disable")}
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test:
        hc["test"] = [str(t) for t in test]
    return hc


def _role(image, name):
    text = f"{image} {name}".lower()
    return next((role for key, role in ROLE_BY_IMAGE if key in text), "other")


def service_fields(name, spec):
    if not isinstance(spec, dict):
        raise ImportError_(f"service {name}: expected a mapping.")
    spec = unescape_dollars(spec)  # rows hold what the program sees
    build = spec.get("build")
    if isinstance(build, str):
        build = {"context": build}
    depends = spec.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {d: "service_started" for d in depends}
    else:
        depends = {d: (c or {}).get("condition", "service_started") for d, c in depends.items()}
    networks = spec.get("networks") or []
    if isinstance(networks, dict):
        networks = list(networks)
    logging = spec.get("logging") or {}
    deploy = spec.get("deploy") or {}
    image = spec.get("image", "")
    role = _role(image or (build or {}).get("context", ""), name)
    ui_name, ui_port, probe = UI.get(role, ("", None, ""))
    return dict(
        name=name, role=role, image=image,
        build_context=(build or {}).get("context", ""), dockerfile=(build or {}).get("dockerfile", ""),
        command=_as_list(spec.get("command")), entrypoint=_as_list(spec.get("entrypoint")),
        environment=_as_dict(spec.get("environment")),
        ports=[_port(p) for p in spec.get("ports") or []],
        volumes=[_volume(v) for v in spec.get("volumes") or []],
        networks=[str(n) for n in networks], depends_on=depends,
        healthcheck=_healthcheck(spec.get("healthcheck")),
        logging_driver=logging.get("driver", ""), logging_options=_as_dict(logging.get("options")),
        replicas=int(deploy.get("replicas") or spec.get("scale") or 1),
        restart=str(spec.get("restart", "no")),
        labels=_as_dict(spec.get("labels")), extra_hosts=[str(h) for h in spec.get("extra_hosts") or []],
        user=str(spec.get("user", "")),
        ui_name=ui_name, ui_port=ui_port, probe_path=probe, ui_path="/" if ui_name else "",
    )


def import_compose(text, slug, name=None):
    """Create a stack from a Compose file's text. Raises ValueError in the user's terms."""
    doc = parse_compose_text(text)
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", slug):
        raise ImportError_(f"{slug!r} is not a valid stack name: use lower-case letters, digits, '-' and '_'.")
    if Stack.objects.filter(slug=slug).exists():
        raise ImportError_(f"A stack named {slug!r} exists already.")
    with transaction.atomic():
        stack = Stack.objects.create(slug=slug, name=name or slug)
        for key, spec in (doc.get("networks") or {}).items():
            spec = spec or {}
            ext = spec.get("external", False)
            Network.objects.create(stack=stack, key=key, name=spec.get("name", "") or
                                   (ext.get("name", "") if isinstance(ext, dict) else ""),
                                   external=bool(ext), driver=spec.get("driver", "") or "")
        for key, spec in (doc.get("volumes") or {}).items():
            Volume.objects.create(stack=stack, key=key, external=bool((spec or {}).get("external", False)))
        for order, (svc_name, spec) in enumerate(doc["services"].items()):
            fields = service_fields(svc_name, spec)
            svc = Service(stack=stack, order=order, **fields)
            try:
                svc.full_clean(exclude=["stack"])
            except Exception as exc:
                messages = getattr(exc, "message_dict", None) or {"": getattr(exc, "messages", [str(exc)])}
                detail = "; ".join(f"{k + ': ' if k and k != '__all__' else ''}{' '.join(v)}" for k, v in messages.items())
                raise ImportError_(f"service {svc_name}: {detail}") from None
            svc.save()
    return stack
