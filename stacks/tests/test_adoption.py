"""Adopting a team's existing Compose project: its directory, its config files
and every service key come in with nothing dropped, or are refused by name.
Equivalence is judged by the real tools on both sides: `docker-compose config`,
promtool and amtool."""
import io
import json
import shlex
import shutil
import subprocess
import tarfile
import zipfile
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from stacks.models import Stack
from stacks.render import ALERTMANAGER_FILE, FLUENTD_FILE, PROMETHEUS_FILE, RULES_FILE, render_bundle
from stacks.tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db
PROJECTS = FIXTURES / "projects"


def run(*args):
    """`manage.py stack …`. Imports allow host access, as the host's own shell user
    may (the tutorial's node-exporter and cAdvisor bind-mount /, /proc, /sys):
    these tests are about losslessness; host access has its own in test_security."""
    if args[0] == "import":
        args = (*args, "--allow-host-access")
    out, err = StringIO(), StringIO()
    call_command("stack", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _canon_service(svc):
    """Spellings Compose treats alike, which `docker-compose config` leaves as written."""
    for key in ("command", "entrypoint"):
        if isinstance(svc.get(key), str):
            svc[key] = shlex.split(svc[key])
    test = (svc.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        svc["healthcheck"]["test"] = ["CMD-SHELL", test]
    vols = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict) and v.get("type") in ("bind", "volume") and set(v) <= {"type", "source", "target", "read_only"}:
            v = f"{v['source']}:{v['target']}" + (":ro" if v.get("read_only") else "")
        vols.append(v)
    if vols:
        svc["volumes"] = vols
    for key in [k for k, v in svc.items() if v in ({}, []) and k not in ("command", "entrypoint")]:
        del svc[key]  # an empty environment, label set, port list… is no environment
    if svc.get("restart") == "no":
        del svc["restart"]  # Compose's default
    deploy = svc.get("deploy") or {}
    if deploy.get("replicas") == 1:
        del deploy["replicas"]
    if "deploy" in svc and not deploy:
        del svc["deploy"]
    return svc


def compose_config(compose_file):
    """`docker-compose config` of a file, its directory written as <dir>."""
    compose_file = Path(compose_file)
    out = subprocess.run(["docker-compose", "-f", compose_file.name, "-p", "adopt", "config"], cwd=compose_file.parent,
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/root"})
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout.replace(str(compose_file.parent.resolve()), "<dir>"))
    doc.pop("version", None)
    doc["services"] = {name: _canon_service(svc) for name, svc in doc["services"].items()}
    return doc


def tool_ok(args, cwd):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def rendered_dir(slug, tmp_path):
    out = tmp_path / f"rendered-{slug}"
    run("render", slug, "--out", str(out))
    return out



def without_attribution(doc):
    """The rendered prometheus.yml less what the panel adds to every scrape: the
    `stack` and `service` labels of each target (and cAdvisor's relabelling to
    them), so that series name their stack. Everything else must be as imported."""
    for job in doc.get("scrape_configs") or []:
        targets = []
        for static in job.get("static_configs") or []:
            labels = {k: v for k, v in (static.get("labels") or {}).items() if k not in ("stack", "service")}
            targets.append((static["targets"], labels))
        if targets:
            merged = {}
            for hosts, labels in targets:
                merged.setdefault(tuple(sorted(labels.items())), []).extend(hosts)
            job["static_configs"] = [{"targets": hosts, **({"labels": dict(key)} if key else {})}
                                     for key, hosts in merged.items()]
        for key in ("metric_relabel_configs", "relabel_configs"):
            kept = [r for r in job.get(key) or [] if r.get("target_label") not in ("stack", "service")]
            if kept:
                job[key] = kept
            else:
                job.pop(key, None)
    return doc

GRAFANA_DATASOURCE_DEFAULTS = {"orgId": 1, "access": "proxy", "isDefault": False, "editable": False, "jsonData": {}}
GRAFANA_PROVIDER_DEFAULTS = {"orgId": 1, "folder": "", "disableDeletion": False, "updateIntervalSeconds": 10,
                             "allowUiUpdates": False}


def grafana_view(directory):
    """What Grafana reads from a project's provisioning, its defaults filled in:
    datasources by name and dashboard providers from every YAML file of their
    directories (file names do not matter to it), dashboards by path."""
    prov = directory / "grafana" / "provisioning"
    datasources, providers = {}, []
    for path in sorted((prov / "datasources").glob("*.y*ml")):
        for ds in yaml.safe_load(path.read_text()).get("datasources") or []:
            datasources[ds["name"]] = {**GRAFANA_DATASOURCE_DEFAULTS, **ds}
    for path in sorted((prov / "dashboards").glob("*.y*ml")):
        providers += [{**GRAFANA_PROVIDER_DEFAULTS, **p} for p in yaml.safe_load(path.read_text())["providers"]]
    dashboards = {}
    for path in sorted((directory / "grafana" / "dashboards").rglob("*.json")):
        model = json.loads(path.read_text())
        if model.get("id", 0) is None:
            del model["id"]  # null: Grafana gives it one
        dashboards[path.relative_to(directory).as_posix()] = model
    return {"datasources": datasources, "providers": providers, "dashboards": dashboards}


@pytest.mark.parametrize("project", ["monitoring", "logging", "app", "extra-keys", "dns-sd", "grafana-rows",
                                     "top-level", "dotenv", "binary-context"])
def test_it_imports_a_project_directory_equivalently(project, tmp_path):
    source = PROJECTS / project
    original = next(p for p in source.iterdir() if p.name.endswith((".yml", ".yaml")) and "compose" in p.name)
    out, _ = run("import", str(source), "--name", project)
    assert f"into stack {project}" in out
    stack = Stack.objects.get(slug=project)
    target = rendered_dir(project, tmp_path)

    assert compose_config(target / "docker-compose.yml") == compose_config(original)
    # What the rows do not hold comes back byte for byte.
    for kept in stack.files.all():
        assert (target / kept.path).read_bytes() == (source / kept.path).read_bytes()
    # Configs that became rows mean what they meant: the tools accept both sides, parsed alike.
    if (source / PROMETHEUS_FILE).exists():
        tool_ok(["promtool", "check", "config", "--syntax-only", PROMETHEUS_FILE], source)
        tool_ok(["promtool", "check", "config", "--syntax-only", PROMETHEUS_FILE], target)
        from stacks.adoption.config_import import _norm_prometheus

        assert (_norm_prometheus(without_attribution(yaml.safe_load((target / PROMETHEUS_FILE).read_text())))
                == _norm_prometheus(yaml.safe_load((source / PROMETHEUS_FILE).read_text())))
    if (source / RULES_FILE).exists():
        tool_ok(["promtool", "check", "rules", RULES_FILE], source)
        tool_ok(["promtool", "check", "rules", RULES_FILE], target)
        assert yaml.safe_load((target / RULES_FILE).read_text()) == yaml.safe_load((source / RULES_FILE).read_text())
    if (source / ALERTMANAGER_FILE).exists():
        tool_ok(["amtool", "check-config", ALERTMANAGER_FILE], target)
    if (source / "grafana").exists():
        assert grafana_view(target) == grafana_view(source)
    if (source / FLUENTD_FILE).exists():
        from stacks.adoption.fluentconf import parse

        assert parse((target / FLUENTD_FILE).read_text()) == parse((source / FLUENTD_FILE).read_text())


def test_the_tutorials_monitoring_configs_become_rows_and_the_rest_stays_verbatim():
    run("import", str(PROJECTS / "monitoring"), "--name", "monitoring")
    stack = Stack.objects.get(slug="monitoring")
    assert sorted(stack.scrape_jobs.values_list("job_name", flat=True)) == [
        "cadvisor", "node-exporter", "node-exporter-slow", "prometheus"]
    assert stack.scrape_jobs.get(job_name="node-exporter-slow").scrape_interval == "10s"
    assert sorted(stack.alert_rules.values_list("group", "name", "severity")) == [
        ("docker-compose-alerts", "HighCPUUsage", "warning"), ("docker-compose-alerts", "HighMemoryUsage", "warning"),
        ("docker-compose-alerts", "ServiceDown", "critical")]
    # alertmanager.yml has SMTP globals the rows do not hold, and the dashboard is
    # wrapped in the HTTP API's {"dashboard": …}: the team's files, kept as they are.
    assert sorted(stack.files.values_list("path", flat=True)) == [
        ALERTMANAGER_FILE, "grafana/dashboards/docker-compose.json"]
    # Grafana's datasource and dashboard provider are rows: no uid (Grafana makes
    # one up, as it did), the provider's own name and intervals.
    assert list(stack.datasources.values_list("name", "uid", "type", "url", "is_default", "editable")) == [
        ("Prometheus", "", "prometheus", "http://prometheus:9090", True, False)]
    assert stack.grafana_dashboard_provider == {"name": "default", "disableDeletion": False,
                                                "updateIntervalSeconds": 10}
    # Grafana refuses that dashboard: the import says so, and keeps it as it is.
    from stacks.validation.checks import validate_stack

    assert any("grafana/dashboards/docker-compose.json: the dashboard is wrapped" in str(p)
               for p in validate_stack(stack))
    files = render_bundle(stack).files
    # The panel writes no dashboard of its own beside the team's.
    assert [p for p in files if p.startswith("grafana/")] == [
        "grafana/dashboards/docker-compose.json", "grafana/provisioning/dashboards/dashboards.yml",
        "grafana/provisioning/datasources/datasources.yml"]


def test_the_tutorials_own_mistakes_are_refused_by_name(tmp_path):
    project = tmp_path / "monitoring"
    shutil.copytree(PROJECTS / "monitoring", project)
    compose = project / "docker-compose.monitoring.yml"
    compose.write_text(compose.read_text().replace("      - '--web.enable-lifecycle'\n",
                                                   "      - '--web.enable-lifecycle'\n      - '--web.enable-admin-api'\n"))
    with pytest.raises(CommandError, match="not imported, 1 error"):
        run("import", str(compose), "--name", "mon")
    assert not Stack.objects.exists()


def test_an_image_baked_config_is_deployed_as_it_is():
    out, err = run("import", str(PROJECTS / "image-baked"), "--name", "baked")
    assert "Imported 2 services" in out and "no receiver" not in err
    files = render_bundle(Stack.objects.get(slug="baked")).files
    assert sorted(files) == ["docker-compose.yml"]


def test_extra_keys_are_rows_of_their_own_kept_as_written():
    run("import", str(PROJECTS / "extra-keys"), "--name", "extra")
    cadvisor = Stack.objects.get(slug="extra").services.get(name="cadvisor")
    assert cadvisor.extra["privileged"] is True and cadvisor.extra["devices"] == ["/dev/kmsg"]
    assert cadvisor.extra["deploy"] == {"resources": {"limits": {"cpus": "0.5", "memory": "256M"}}}
    assert cadvisor.replicas == 1 and cadvisor.ports == ["127.0.0.1:8080:8080"]
    worker = Stack.objects.get(slug="extra").services.get(name="worker")
    assert worker.extra["environment"] == ["MODE=batch", "HOME"]  # HOME passes the host's through: not a row
    assert worker.extra["build"] == {"args": {"VERSION": "1.2"}} and worker.build_context == "./worker"


@pytest.mark.parametrize("text,message", [
    ("services:\n  web:\n    image: x\n    ports: [{target: 80, published: 8080, mode: host}]\n",
     "services.web.ports[0].mode: the panel publishes ports in the short syntax"),
    ("services:\n  web:\n    image: x\n    networks: {front: {aliases: [w]}}\nnetworks:\n  front: {}\n",
     "services.web.networks.front.aliases"),
    ("services:\n  web:\n    image: x\nconfigs:\n  c: {external: true}\n", "configs.c.external: the panel's engine "
     "mounts configs from a file of the project"),
    ("name: other\nservices:\n  web:\n    image: x\n", "name: the project is named 'other'"),
    ("services:\n  web:\n    image: x\n    privileged: maybe\n", "services.web.privileged: 'maybe' is not of type 'boolean'"),
])
def test_what_cannot_be_kept_is_refused_by_key_path(text, message, tmp_path):
    (tmp_path / "compose.yaml").write_text(text)
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        run("import", str(tmp_path), "--name", "refused")
    assert not Stack.objects.exists()


def alias_bomb():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\nservices: {x: {image: y, command: *i}}\n"


def test_an_alias_bomb_is_refused_by_the_command_and_the_page(tmp_path, client, operator):
    bomb = alias_bomb()
    assert len(bomb) < 700
    (tmp_path / "compose.yaml").write_text(bomb)
    with pytest.raises(CommandError, match="aliases expand past"):
        run("import", str(tmp_path), "--name", "bomb")
    client.force_login(operator)
    r = client.post("/stacks/import/", {"slug": "bomb", "compose": bomb})
    assert r.status_code == 200 and "aliases expand past" in r.content.decode()
    assert not Stack.objects.exists()


def _zip(members, links=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _targz(directory, prefix):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(directory, arcname=prefix)
    return buf.getvalue()


def test_the_import_page_takes_a_project_archive(client, django_user_model):
    # An admin: the tutorial's monitoring project needs host access (node-exporter, cAdvisor).
    client.force_login(django_user_model.objects.create_superuser("ada", password="admin-pass"))
    upload = SimpleUploadedFile("monitoring.tar.gz", _targz(PROJECTS / "monitoring", "monitoring-stack"))
    r = client.post("/stacks/import/", {"slug": "uploaded", "archive": upload, "allow_host_access": "on"})
    assert r.status_code == 302, r.content.decode()
    stack = Stack.objects.get(slug="uploaded")
    assert stack.scrape_jobs.count() == 4 and stack.files.filter(path=ALERTMANAGER_FILE).exists()


@pytest.mark.parametrize("members,links,message", [
    ({"compose.yaml": "services: {a: {image: x}}", "../evil": "x"}, (), "leaves the project&#x27;s directory"),
    ({"compose.yaml": "services: {a: {image: x}}", "/etc/cron.d/x": "x"}, (), "an absolute path"),
    ({"compose.yaml": "services: {a: {image: x}}"}, ("conf",), "a symbolic link"),
])
def test_the_import_page_refuses_archive_members_that_leave_the_directory(client, operator, members, links, message):
    client.force_login(operator)
    upload = SimpleUploadedFile("p.zip", _zip(members, links))
    r = client.post("/stacks/import/", {"slug": "uploaded", "archive": upload})
    assert r.status_code == 200 and message in r.content.decode()
    assert not Stack.objects.exists()


def test_a_bind_mount_outside_the_directory_is_refused(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n    volumes: ['../secrets:/s:ro']\n")
    with pytest.raises(CommandError, match=r"services.a.volumes\[0\]: ../secrets is outside the project"):
        run("import", str(tmp_path), "--name", "outside")


def test_the_engine_translates_kept_keys_and_names_the_ones_it_does_not_apply():
    from stacks.engine.container import extra_settings

    create, host, ignored = extra_settings({
        "privileged": True, "cap_add": ["SYS_ADMIN"], "devices": ["/dev/kmsg"], "pid": "host",
        "network_mode": "host", "stop_grace_period": "1m30s", "hostname": "box", "container_name": "mine",
        "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "256M"}}}, "x-team": "ops"})
    assert host == {"privileged": True, "cap_add": ["SYS_ADMIN"], "devices": ["/dev/kmsg"], "pid_mode": "host",
                    "network_mode": "host", "nano_cpus": 500_000_000, "mem_limit": "256M"}
    assert create == {"hostname": "box", "stop_timeout": 90}
    assert ignored == ["container_name"]


def test_rows_whose_file_the_team_keeps_are_said_not_to_be_rendered():
    from stacks.models import AlertRule
    from stacks.validation.checks import validate_stack

    run("import", str(PROJECTS / "monitoring"), "--name", "monitoring")
    stack = Stack.objects.get(slug="monitoring")
    stack.files.create(path="prometheus/rules/team.yml", content="groups: []\n")
    assert AlertRule.objects.filter(stack=stack).exists()
    problems = [str(p) for p in validate_stack(stack)]
    assert ("warning: prometheus/rules/alerts.yml: Alert rules are not rendered: the stack keeps its own file "
            "there.") in problems
