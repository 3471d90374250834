"""docker-compose.yml → rows. Accepts Compose's short and long syntaxes and
normalises them into the shapes the models store."""
import re
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from stacks.adoption.config_import import adopt_configs
from stacks.adoption.interpolate import Unresolved, dotenv, interpolate
from stacks.lib.compose_keys import Refused, split_network, split_service, split_top_level, split_volume
from stacks.models import HostConsent, Network, Service, Stack, StackFile, Volume
from stacks.validation import containment
from stacks.validation.checks import check_compose_schema_doc, parse_compose_text, validate_stack
from stacks.versions import snapshot

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


def _role(image, name):
    text = f"{image} {name}".lower()
    return next((role for key, role in ROLE_BY_IMAGE if key in text), "other")


def service_fields(name, spec):
    """The Service row's fields for one Compose service, `extra` included."""
    try:
        fields, extra = split_service(name, spec)
    except Refused as exc:
        raise ImportError_(str(exc)) from None
    role = _role(fields.get("image") or fields.get("build_context", ""), name)
    ui_name, ui_port, probe = UI.get(role, ("", None, ""))
    return dict(fields, name=name, role=role, extra=extra,
                ui_name=ui_name, ui_port=ui_port, probe_path=probe, ui_path="/" if ui_name else "")


def parse_compose(text, project, env=None):
    """Compose text → dict, bounded (yamlsafe) and checked against the Compose
    specification's schema, every refusal naming its key path. A top-level
    `name:` (newer Compose; Debian's 1.29 schema refuses it) must be `project`,
    the stack's name, which the engine and `docker-compose -p` use: it is taken
    out here rather than kept. ${VAR} is resolved from `env` (stacks.adoption.interpolate)."""
    doc = parse_compose_text(text)
    try:
        doc = interpolate(doc, env or {})
    except Unresolved as exc:
        raise ImportError_(str(exc)) from None
    if isinstance(doc, dict) and "name" in doc:
        named = doc.pop("name")
        if named != project:
            raise ImportError_(f"name: the project is named {named!r}: import it as {named!r} (a stack's name is "
                               "its Compose project's name).")
    problems = check_compose_schema_doc(doc)
    if problems:
        raise ImportError_("; ".join(problems))
    return doc


def import_compose(text, slug, name=None, files=None, env=None, project=None):
    """Create a stack from a Compose file's text and the files its services use
    ({relative path: text}, from stacks.adoption.project_dir). Raises ValueError in the
    user's terms."""
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", slug):
        raise ImportError_(f"{slug!r} is not a valid stack name: use lower-case letters, digits, '-' and '_'.")
    doc = parse_compose(text, project or slug, env)
    if Stack.objects.filter(slug=slug).exists():
        raise ImportError_(f"A stack named {slug!r} exists already.")
    try:
        compose_extra = split_top_level(doc)
        networks = [split_network(key, spec) for key, spec in (doc.get("networks") or {}).items()]
        volumes = [split_volume(key, spec) for key, spec in (doc.get("volumes") or {}).items()]
    except Refused as exc:
        raise ImportError_(str(exc)) from None
    with transaction.atomic():
        stack = Stack.objects.create(slug=slug, name=name or slug, compose_extra=compose_extra)
        for fields, extra in networks:
            Network.objects.create(stack=stack, extra=extra, **fields)
        for fields, extra in volumes:
            Volume.objects.create(stack=stack, extra=extra, **fields)
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
        kept = adopt_configs(stack, files or {})
        for path, content in kept.items():
            f = StackFile.kept(stack, path, content)
            try:
                f.full_clean(exclude=["stack"])
            except ValidationError as exc:
                raise ImportError_(f"{path}: {' '.join(exc.messages)}") from None
            f.save()
    return stack


def import_and_validate(text, slug, name=None, files=None, allow_host_access=False, env=None, approver=None,
                        via="command line", directory=None):
    """What the import page and `stack import` both do: import, then validate the
    stack as a deploy would; a stack with errors is not kept. `allow_host_access`
    is an admin's choice (a superuser on the page, the host's own shell user on
    the command line): consent is recorded for exactly the host options the file
    has (stacks.validation.containment), by `approver` or `via`; without it they
    are refused. `directory`: the project's own, kept as the stack's (adopted
    in place: its mounts stay where they are). Returns (stack or None, [problem text])."""
    stack = import_compose(text, slug, name, files, env)
    if directory is not None:
        stack.directory_override = str(directory)
        stack.save(update_fields=["directory_override"])
    if allow_host_access:
        HostConsent.approve(stack, containment.of_stack(stack), approver, via)
    problems = [str(p) for p in validate_stack(stack)]
    if any(p.startswith("error") for p in problems):
        stack.delete()  # nothing is kept from a file that does not validate
        return None, problems
    return stack, problems


def import_project(project, slug, name=None, allow_host_access=False, environ=None, approver=None,
                   via="command line", directory=None):
    """A project read by stacks.adoption.project_dir (a directory, a Compose file and its
    neighbours, or an uploaded archive): import_and_validate with its files.
    ${VAR} comes from its .env, and from `environ` over it: the importing
    user's environment on the command line, never the web server's."""
    env = {**dotenv(project.env_text), **(environ or {})}
    return import_and_validate(project.compose_text, slug, name, project.files, allow_host_access, env,
                               approver, via, directory)


class DefinitionRefused(ValueError):
    """A new definition that does not validate: nothing of it was kept."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


def replace_definition(stack, project, environ=None):
    """A project read by stacks.adoption.project_dir becomes `stack`'s definition,
    through the same import (rows where they hold the files exactly, other files
    byte for byte) and the same validation (containment against the consents
    `stack` has): imported under a scratch name, its rows are moved onto
    `stack` (stacks.versions.snapshot), then `stack` is validated; one
    transaction, so a definition with errors changes nothing (DefinitionRefused).
    Returns the warnings."""
    env = {**dotenv(project.env_text), **(environ or {})}
    scratch = f"{stack.slug[:40]}-incoming-{secrets.token_hex(4)}"
    with transaction.atomic():
        incoming = import_compose(project.compose_text, scratch, stack.name, project.files, env, project=stack.slug)
        doc = snapshot.take(incoming)
        incoming.delete()
        doc["stack"]["name"] = stack.name
        doc["stack"]["description"] = stack.description
        snapshot.restore(stack, doc)
        problems = [str(p) for p in validate_stack(stack)]
        if any(p.startswith("error") for p in problems):
            raise DefinitionRefused([p for p in problems if p.startswith("error")])
    return problems
