"""Default deny: an operator's stack stays inside its stack. The hostile corpus of
issue 20 (and more of the same kinds) goes in through every door an operator
has (the import page, the admin, a project directory, the command line without
--allow-host-access): each case is refused with its key named, nothing is kept,
no 5xx. Then the consent flow, the deploy as last line of defence, and secrets
scoped to their stack."""
import datetime
import json
from io import StringIO

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from stacks.adoption.importer import import_project
from stacks.adoption.project_dir import read_path
from stacks.models import HostConsent, Secret, Service, Stack
from stacks.tests.test_admin_stack_page import form_data
from stacks.validation import containment
from stacks.validation.checks import errors, validate_stack

# (case, the service's keys, top-level keys, what the refusal names)
CORPUS = [
    ("docker-socket-secret", {"secrets": ["s"]}, {"secrets": {"s": {"file": "/var/run/docker.sock"}}},
     "secrets.s.file"),
    ("root-volume-driver-opts", {"volumes": ["root:/x"]},
     {"volumes": {"root": {"driver_opts": {"type": "none", "o": "bind", "device": "/"}}}}, "volumes.root.driver_opts"),
    ("volume-device-only", {"volumes": ["d:/x"]}, {"volumes": {"d": {"driver_opts": {"device": "/etc"}}}},
     "volumes.d.driver_opts"),
    ("parent-bind", {"volumes": ["./../../:/x:ro"]}, {}, "services.web.volumes[0]"),
    ("bind-var", {"volumes": ["/var:/x"]}, {}, "services.web.volumes[0]"),
    ("bind-root-home", {"volumes": ["/root:/x"]}, {}, "services.web.volumes[0]"),
    ("bind-shadow", {"volumes": ["/etc/shadow:/x:ro"]}, {}, "services.web.volumes[0]"),
    ("bind-docker-volumes", {"volumes": ["/var/lib/docker/volumes:/x"]}, {}, "services.web.volumes[0]"),
    ("bind-containerd", {"volumes": ["/run/containerd/containerd.sock:/x"]}, {}, "services.web.volumes[0]"),
    ("bind-home-tilde", {"volumes": ["~/.ssh:/x"]}, {}, "services.web.volumes[0]"),
    ("bind-long-syntax", {"volumes": [{"type": "bind", "source": "/", "target": "/x"}]}, {},
     "services.web.volumes[0]"),
    ("config-absolute", {"configs": ["c"]}, {"configs": {"c": {"file": "/etc/passwd"}}}, "configs.c.file"),
    ("config-parent", {"configs": ["c"]}, {"configs": {"c": {"file": "../../var/secret_key"}}}, "configs.c.file"),
    ("secret-from-environment", {"secrets": ["s"]}, {"secrets": {"s": {"environment": "SECRET_KEY"}}},
     "secrets.s.environment"),
    ("env-file-absolute", {"env_file": "/etc/environment"}, {}, "services.web.env_file"),
    ("env-file-parent", {"env_file": ["../.env"]}, {}, "services.web.env_file"),
    ("cap-add", {"cap_add": ["SYS_ADMIN", "SYS_PTRACE"]}, {}, "services.web.cap_add"),
    ("cap-add-all", {"cap_add": ["ALL"]}, {}, "services.web.cap_add"),
    ("seccomp-unconfined", {"security_opt": ["seccomp:unconfined"]}, {}, "services.web.security_opt"),
    ("apparmor-unconfined", {"security_opt": ["apparmor:unconfined"]}, {}, "services.web.security_opt"),
    ("label-disable", {"security_opt": ["label:disable"]}, {}, "services.web.security_opt"),
    ("new-privileges", {"security_opt": ["no-new-privileges:false"]}, {}, "services.web.security_opt"),
    ("network-container", {"network_mode": "container:monitoring_prometheus_1"}, {}, "services.web.network_mode"),
    ("network-host", {"network_mode": "host"}, {}, "services.web.network_mode"),
    ("network-foreign-service", {"network_mode": "service:prometheus"}, {}, "services.web.network_mode"),
    ("pid-host", {"pid": "host"}, {}, "services.web.pid"),
    ("pid-container", {"pid": "container:abc"}, {}, "services.web.pid"),
    ("ipc-host", {"ipc": "host"}, {}, "services.web.ipc"),
    ("uts-host", {"uts": "host"}, {}, "uts"),
    ("userns-host", {"userns_mode": "host"}, {}, "userns_mode"),
    ("cgroup-parent", {"cgroup_parent": "/"}, {}, "cgroup_parent"),
    ("privileged", {"privileged": True}, {}, "services.web.privileged"),
    ("devices", {"devices": ["/dev/sda:/dev/sda"]}, {}, "services.web.devices"),
    ("device-cgroup-rules", {"device_cgroup_rules": ["c 1:3 mr"]}, {}, "device_cgroup_rules"),
    ("volumes-from-container", {"volumes_from": ["container:monitoring_grafana_1"]}, {},
     "services.web.volumes_from"),
    ("compose-label", {"labels": {"com.docker.compose.project": "monitoring"}}, {}, "services.web.labels"),
    ("stack-label", {"labels": ["com.docker.stack.namespace=monitoring"]}, {}, "services.web.labels"),
    ("container-name", {"container_name": "app_web_1"}, {}, "services.web.container_name"),
    ("runtime", {"runtime": "runc-unconfined"}, {}, "runtime"),
    ("oom-kill-disable", {"oom_kill_disable": True}, {}, "oom_kill_disable"),
    ("external-links", {"external_links": ["monitoring_prometheus_1:p"]}, {}, "external_links"),
    ("isolation", {"isolation": "hyperv"}, {}, "isolation"),
    ("oom-score", {"oom_score_adj": -1000}, {}, "oom_score_adj"),
    ("build-outside", {"build": {"context": "/"}}, {}, "services.web.build"),
    ("volume-foreign-name", {"volumes": ["v:/x"]}, {"volumes": {"v": {"name": "monitoring_prometheus_data"}}},
     "volumes.v.name"),
    ("volume-external", {"volumes": ["v:/x"]}, {"volumes": {"v": {"external": True}}}, "volumes.v.external"),
    ("volume-driver", {"volumes": ["v:/x"]}, {"volumes": {"v": {"driver": "nfs-plugin"}}}, "volumes.v.driver"),
    ("network-macvlan", {"networks": ["n"]}, {"networks": {"n": {"driver": "macvlan"}}}, "networks.n.driver"),
    ("network-driver-opts", {"networks": ["n"]},
     {"networks": {"n": {"driver_opts": {"com.docker.network.bridge.name": "docker0"}}}}, "networks.n.driver_opts"),
    ("network-compose-label", {"networks": ["n"]},
     {"networks": {"n": {"labels": {"com.docker.compose.network": "observability"}}}}, "networks.n.labels"),
]
IDS = [case[0] for case in CORPUS]


def compose_text(service, top):
    return yaml.safe_dump({"version": "3.8", "services": {"web": {"image": "nginx:1.25", **service}}, **top},
                          sort_keys=False)


def named(text, key):
    """The refusal names the key: its full path, or (the Compose schema's words)
    the key itself."""
    return key in text or key.rsplit(".", 1)[-1].split("[")[0] in text


def nothing_kept(settings, slug):
    assert not Stack.objects.filter(slug=slug).exists()
    assert not (settings.STACKS_DIR / slug).exists()


@pytest.mark.parametrize("case,service,top,key", CORPUS, ids=IDS)
def test_it_refuses_each_hostile_case_on_the_import_page(as_operator, settings, case, service, top, key):
    r = as_operator.post("/stacks/import/", {"slug": "hostile", "compose": compose_text(service, top)})
    assert r.status_code == 200
    assert named(r.content.decode(), key), r.content.decode()[-3000:]
    nothing_kept(settings, "hostile")


@pytest.mark.parametrize("case,service,top,key", CORPUS, ids=IDS)
def test_it_refuses_each_hostile_case_in_a_project_directory(db, settings, tmp_path, case, service, top, key):
    project = tmp_path / "hostile"
    project.mkdir()
    (project / "docker-compose.yml").write_text(compose_text(service, top))
    try:
        stack, problems = import_project(read_path(str(project)), "hostile")
    except ValueError as exc:
        stack, problems = None, [str(exc)]
    assert stack is None and any(named(p, key) for p in problems), problems
    nothing_kept(settings, "hostile")


@pytest.mark.parametrize("case,service,top,key", CORPUS[:12], ids=IDS[:12])
def test_it_refuses_each_hostile_case_on_the_command_line_without_the_flag(db, settings, tmp_path, case, service,
                                                                           top, key):
    project = tmp_path / "hostile"
    project.mkdir()
    (project / "docker-compose.yml").write_text(compose_text(service, top))
    err = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("stack", "import", str(project), "--name", "hostile", stdout=StringIO(), stderr=err)
    said = err.getvalue() + str(refused.value)
    assert named(said, key), said
    nothing_kept(settings, "hostile")


@pytest.fixture
def staff_operator(client, operator, defaults):
    operator.is_staff = True  # operators edit in the admin
    operator.save()
    client.force_login(operator)
    return client


SERVICE_CASES = [c for c in CORPUS if not c[2] and c[0] not in ("network-foreign-service",)]


@pytest.mark.parametrize("case,service,top,key", SERVICE_CASES, ids=[c[0] for c in SERVICE_CASES])
def test_it_refuses_each_hostile_service_option_in_the_admin_of_an_approved_stack(
        staff_operator, case, service, top, key):
    """monitoring has an admin's consent for node-exporter and cAdvisor: that
    consent does not stretch to a new service."""
    stack = Stack.objects.get(slug="monitoring")
    data = form_data(staff_operator.get("/admin/stacks/service/add/").content.decode())
    modelled = {k: v for k, v in service.items() if k in ("volumes", "labels")}
    extra = {k: v for k, v in service.items() if k not in modelled}
    if isinstance(modelled.get("labels"), list):
        extra["labels"] = modelled.pop("labels")
    data.update(stack=str(stack.pk), name="intruder", image="nginx:1.25", extra=json.dumps(extra),
                **{k: json.dumps(v) for k, v in modelled.items()})
    r = staff_operator.post("/admin/stacks/service/add/", data)
    assert r.status_code == 200, r.status_code  # the form again, with the refusal
    assert named(r.content.decode(), key)
    assert not Service.objects.filter(stack=stack, name="intruder").exists()


def test_an_operator_cannot_add_a_docker_socket_bind_to_an_approved_service(staff_operator):
    svc = Service.objects.get(stack__slug="monitoring", name="cadvisor")
    url = f"/admin/stacks/service/{svc.pk}/change/"
    data = form_data(staff_operator.get(url).content.decode())
    data["volumes"] = json.dumps([*svc.volumes, "/var/run/docker.sock:/var/run/docker.sock"])
    r = staff_operator.post(url, data)
    assert r.status_code == 200 and "services.cadvisor.volumes[5]" in r.content.decode()
    svc.refresh_from_db()
    assert "/var/run/docker.sock:/var/run/docker.sock" not in svc.volumes


# --- Consent ---------------------------------------------------------------------------

def test_an_admin_approves_exactly_the_pending_options_and_a_changed_one_needs_a_new_approval(client, defaults):
    stack = Stack.objects.get(slug="app")
    web = stack.services.get(name="web")
    web.extra = {"cap_add": ["NET_ADMIN"]}
    web.save()
    assert [p.where for p in errors(validate_stack(stack))] == ["services.web.cap_add"]
    admin = User.objects.create_superuser("root", "r@example.com", "root-pass-123")
    client.force_login(admin)
    page = client.get(f"/admin/stacks/stack/{stack.pk}/host-options/").content.decode()
    assert "cap_add: NET_ADMIN" in page
    [option] = containment.pending(stack)
    r = client.post(f"/admin/stacks/stack/{stack.pk}/host-options/", {"approve": option.key})
    assert r.status_code == 302
    consent = HostConsent.objects.get(stack=stack)
    assert (consent.service, consent.option, consent.approved_by) == ("web", "cap_add: NET_ADMIN", admin)
    assert not errors(validate_stack(stack))
    html = client.get("/stacks/app/").content.decode()
    assert "web: cap_add: NET_ADMIN" in html and "approved by root" in html

    web.extra = {"cap_add": ["NET_ADMIN", "SYS_ADMIN"]}
    web.save()
    assert [p.where for p in errors(validate_stack(stack))] == ["services.web.cap_add"]
    assert "pending" in client.get("/stacks/app/").content.decode()


def test_an_admins_new_host_option_is_saved_as_pending_and_can_be_revoked_after_approval(client, defaults):
    from stacks.models import AuditRecord

    admin = User.objects.create_superuser("root", "r@example.com", "root-pass-123")
    client.force_login(admin)
    stack = Stack.objects.get(slug="app")
    data = form_data(client.get("/admin/stacks/service/add/").content.decode())
    data.update(stack=str(stack.pk), name="tracer", image="nginx:1.25", extra=json.dumps({"pid": "host"}))
    assert client.post("/admin/stacks/service/add/", data).status_code == 302
    assert [p.where for p in errors(validate_stack(stack))] == ["services.tracer.pid"]
    assert "services.tracer.pid" in client.get("/stacks/app/").content.decode()
    url = f"/admin/stacks/stack/{stack.pk}/host-options/"
    assert client.post(url, {"approve": "all"}).status_code == 302
    assert not errors(validate_stack(stack))
    assert AuditRecord.objects.filter(action="approve host option", detail="tracer: pid: host").exists()
    consent = HostConsent.objects.get(stack=stack)
    assert client.post(url, {"revoke": str(consent.pk)}).status_code == 302
    assert not HostConsent.objects.filter(stack=stack).exists()
    assert [p.where for p in errors(validate_stack(stack))] == ["services.tracer.pid"]


def test_the_command_line_flag_approves_exactly_what_the_file_has(db, tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "docker-compose.yml").write_text(compose_text({"pid": "host", "cap_add": ["SYS_PTRACE"]}, {}))
    call_command("stack", "import", str(project), "--name", "traced", "--allow-host-access",
                 stdout=StringIO(), stderr=StringIO())
    assert set(HostConsent.objects.values_list("service", "option", "approved_via")) == {
        ("web", "pid: host", "command line"), ("web", "cap_add: SYS_PTRACE", "command line")}


def test_an_operator_cannot_approve_on_the_import_page(as_operator, settings):
    r = as_operator.post("/stacks/import/", {"slug": "sneaky", "allow_host_access": "on",
                                             "compose": compose_text({"privileged": True}, {})})
    assert r.status_code == 200 and "services.web.privileged" in r.content.decode()
    nothing_kept(settings, "sneaky")
    assert not HostConsent.objects.exists()


# --- Secrets ---------------------------------------------------------------------------

def test_the_panels_own_tokens_are_never_referenceable(defaults):
    Secret.get_or_generate("panel_webhook_token")
    stack = Stack.objects.get(slug="app")
    web = stack.services.get(name="web")
    web.environment = {**web.environment, "T": "${secret:panel_webhook_token}"}
    web.save()
    messages = [p.message for p in errors(validate_stack(stack))]
    assert "${secret:panel_webhook_token} is the panel's own token: no stack may reference it." in messages


def test_a_stack_references_only_its_own_secrets_and_those_shared_with_it(defaults):
    app = Stack.objects.get(slug="app")
    web = app.services.get(name="web")
    web.environment = {**web.environment, "G": "${secret:grafana_admin_password}"}
    web.save()
    messages = [p.message for p in errors(validate_stack(app))]
    assert ("${secret:grafana_admin_password} belongs to another stack: an admin must share it with this one."
            in messages)
    Secret.objects.get(name="grafana_admin_password").shared_with.add(app)
    assert not errors(validate_stack(app))


def test_the_default_stacks_own_their_generated_secrets_and_validate(defaults):
    assert dict(Secret.objects.filter(stack__isnull=False).values_list("name", "stack__slug")) == {
        "grafana_admin_password": "monitoring", "app_postgres_password": "app"}
    for stack in Stack.objects.all():
        assert not errors(validate_stack(stack)), stack.slug


# --- The deploy: the last line of defence ---------------------------------------------------

@pytest.mark.docker
def test_the_deploy_refuses_an_option_written_behind_the_checkers_back(db, project, docker_api):
    from stacks.models import Deployment
    from stacks.operations.execute import execute

    stack = Stack.objects.create(slug=project, name=project)
    Service.objects.create(stack=stack, name="exporter", image="panel-local/node-exporter:latest")

    def deploy():
        d = Deployment.objects.create(stack=stack, action="deploy")
        execute(d)
        d.refresh_from_db()
        return d

    assert deploy().status == "succeeded"
    running = docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})
    assert len(running) == 1
    # A row edited directly (no form, no import): the deploy still asks for consent.
    Service.objects.filter(stack=stack).update(extra={"privileged": True, "pid": "host"},
                                               volumes=["/var/run/docker.sock:/var/run/docker.sock"])
    d = deploy()
    assert d.status == "failed" and "nothing was changed" in d.error
    steps = "\n".join(d.steps.values_list("message", flat=True))
    for key in ("services.exporter.privileged", "services.exporter.pid", "services.exporter.volumes[0]"):
        assert key in steps
    [container] = docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})
    assert container["Id"] == running[0]["Id"]  # the previous container runs on, untouched
    assert not docker_api.inspect_container(container["Id"])["HostConfig"]["Privileged"]


# --- What stays inside -------------------------------------------------------------------

def test_it_names_the_key_path_and_the_reason_in_the_users_words():
    [option] = containment.find({"services": {"web": {"image": "x", "cap_add": ["SYS_ADMIN"]}}}, "p")
    assert f"{option.path}: {option.why}; {containment.NEEDS_CONSENT}" == (
        "services.web.cap_add: adding capabilities (SYS_ADMIN) reaches into the Docker host; "
        "an admin must approve it.")


def test_what_stays_inside_the_stack_needs_no_consent():
    doc = {"services": {
        "web": {"image": "x", "volumes": ["./conf:/conf:ro", "data:/data", ".:/all",
                                          {"type": "tmpfs", "target": "/t"}],
                "network_mode": "service:db", "pid": "service:db", "ipc": "shareable", "volumes_from": ["db:ro"],
                "security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"], "privileged": False,
                "container_name": "p-web", "labels": {"team": "ops"}, "env_file": "./web.env",
                "build": {"context": "./web"}, "tmpfs": ["/tmp"], "read_only": True, "x-note": "kept"},
        "db": {"image": "y", "configs": ["c"], "secrets": ["s"]}},
        "volumes": {"data": {"driver": "local", "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}}},
        "networks": {"back": {"driver": "bridge", "internal": True,
                              "driver_opts": {"com.docker.network.bridge.enable_icc": "true"}}},
        "configs": {"c": {"file": "./c.conf"}}, "secrets": {"s": {"file": "./secrets/s.txt"}}, "x-defaults": {}}
    assert containment.find(doc, "p") == []


def test_a_bare_relative_path_is_inside_the_stack_as_compose_reads_it():
    """awesome-compose writes `context: backend` and `file: db/password.txt`:
    Compose reads both from the project's directory, so no consent is needed;
    the same fields leading out still need it."""
    doc = {"services": {"backend": {"build": {"context": "backend", "target": "builder"}, "env_file": "web.env",
                                    "secrets": ["db-password"],
                                    "volumes": [{"type": "bind", "source": "conf", "target": "/conf"}]}},
           "secrets": {"db-password": {"file": "db/password.txt"}}}
    assert containment.find(doc, "p") == []
    doc["services"]["backend"]["build"]["context"] = "backend/../.."
    doc["secrets"]["db-password"]["file"] = "db/../../password.txt"
    assert {o.path for o in containment.find(doc, "p")} == {"services.backend.build.context",
                                                             "secrets.db-password.file"}


def test_a_symlink_in_the_stack_directory_that_leads_out_is_refused(db, settings):
    stack = Stack.objects.create(slug="linked", name="linked")
    Service.objects.create(stack=stack, name="web", image="nginx:1.25", volumes=["./data:/data:ro"])
    assert not containment.check(stack)
    stack.directory.mkdir(parents=True)
    (stack.directory / "data").symlink_to("/etc")
    [problem] = containment.check(stack)
    assert problem.where == "services.web.volumes[0]" and "a symlink that leads out" in problem.message


@pytest.mark.parametrize("weird", [5, "x", None, True, [1, {"a": None}], {"a": [None]}, {5: 5, "a": 1},
                                   datetime.date(2026, 1, 1)])
def test_a_value_of_the_wrong_type_never_breaks_the_checker(weird):
    """The Compose schema names a wrong type; the checker must not fail before it does (no 500)."""
    keys = ["volumes", "volumes_from", "cap_add", "security_opt", "env_file", "labels", "build", "network_mode",
            "pid", "ipc", "devices", "deploy", "container_name", "privileged"]
    doc = {"services": {"web": {key: weird for key in keys}, "odd": weird},
           "volumes": {"v": weird}, "networks": {"n": weird, "m": {"driver_opts": weird, "labels": weird}},
           "configs": weird, "secrets": {"s": weird}, 7: weird}
    containment.find(doc, "p")
    containment.find({"services": weird}, "p")
