"""`manage.py stack list | load-defaults | render | import`, as scripts use them."""
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from stacks.models import AlertRule, Service, Stack
from stacks.render import render_bundle
from stacks.tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("stack", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_lists_stacks(defaults):
    out, _ = run("list")
    assert [line.split()[0] for line in out.splitlines()] == ["app", "logging", "monitoring"]
    assert "never deployed" in out


def test_load_defaults_twice_changes_nothing_and_keeps_edits():
    out, _ = run("load-defaults")
    assert "Created stacks: monitoring, logging, app" in out
    AlertRule.objects.filter(name="ServiceDown").update(for_duration="3m")
    Service.objects.filter(name="grafana").delete()
    counts = (Stack.objects.count(), Service.objects.count(), AlertRule.objects.count())
    out, _ = run("load-defaults")
    assert "nothing changed" in out
    assert (Stack.objects.count(), Service.objects.count(), AlertRule.objects.count()) == counts
    assert AlertRule.objects.get(name="ServiceDown").for_duration == "3m"
    assert not Service.objects.filter(name="grafana").exists()


def test_render_writes_the_whole_bundle(defaults, tmp_path):
    out, _ = run("render", "monitoring", "--out", str(tmp_path))
    assert "Wrote 8 files" in out
    for path in ["docker-compose.yml", "prometheus/prometheus.yml", "prometheus/rules/alerts.yml",
                 "prometheus/rules/panel-heartbeat.yml",
                 "alertmanager/alertmanager.yml", "grafana/provisioning/datasources/datasources.yml",
                 "grafana/provisioning/dashboards/dashboards.yml", "grafana/dashboards/docker-compose.json"]:
        assert (tmp_path / path).is_file(), path


def test_render_fails_with_every_problem_listed(defaults, tmp_path):
    Service.objects.filter(stack__slug="logging", name="kibana").update(depends_on={"elastic": "service_healthy"})
    Service.objects.filter(stack__slug="logging", name="logstash").update(ports=["127.0.0.1:9200:9200"])
    err = StringIO()
    with pytest.raises(CommandError, match="logging: 2 problem"):
        call_command("stack", "render", "logging", "--out", str(tmp_path), stdout=StringIO(), stderr=err)
    assert "service kibana: depends on 'elastic'" in err.getvalue()
    assert "service elasticsearch: host port 9200/tcp is also published by logging/logstash." in err.getvalue()
    assert not (tmp_path / "docker-compose.yml").exists()


def test_render_names_an_unknown_stack(defaults, tmp_path):
    with pytest.raises(CommandError, match=r"No stack named 'nope' \(stacks: app, logging, monitoring\)"):
        run("render", "nope", "--out", str(tmp_path))


def normalise(doc):
    """Compose's meaning without its spelling: list/dict forms, $$ escapes."""
    out = {}
    for name, s in doc["services"].items():
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        deps = s.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: "service_started" for d in deps}
        else:
            deps = {d: c["condition"] for d, c in deps.items()}
        replicas = (s.get("deploy") or {}).get("replicas", 1)
        out[name] = {
            "image": s.get("image"), "build": (s["build"] if isinstance(s.get("build"), str)
                                               else (s.get("build") or {}).get("context")),
            "command": s.get("command"), "environment": {k: str(v).replace("$$", "$") for k, v in env.items()},
            "ports": [str(p) for p in s.get("ports", [])], "volumes": s.get("volumes", []),
            "depends_on": deps, "logging": s.get("logging"), "replicas": replicas,
        }
        if isinstance(out[name]["command"], list):
            out[name]["command"] = [c.replace("$$", "$") for c in out[name]["command"]]
    return out, doc.get("networks"), doc.get("volumes")


@pytest.mark.parametrize("name", ["monitoring", "logging", "app"])
def test_the_tutorials_compose_files_import_and_render_equivalently(name, tmp_path):
    source = next((FIXTURES / "projects" / name).glob("docker-compose*.yml"))
    out, _ = run("import", str(source), "--name", f"imported-{name}", "--allow-host-access")
    assert "Imported" in out
    stack = Stack.objects.get(slug=f"imported-{name}")
    rendered = yaml.safe_load(render_bundle(stack).files["docker-compose.yml"])
    original = yaml.safe_load(source.read_text())
    a, b = normalise(original), normalise(rendered)
    assert a[0] == b[0]
    assert (a[1] or {}) == (b[1] or {})
    assert {k: v or {} for k, v in (a[2] or {}).items()} == (b[2] or {})


def test_import_refuses_what_is_not_a_compose_file(tmp_path):
    bad = tmp_path / "x.yml"
    bad.write_text("services: [1, 2\n")
    with pytest.raises(CommandError, match="line 2: not valid YAML"):
        run("import", str(bad), "--name", "x")
    bad.write_text("just: text\n")
    with pytest.raises(CommandError, match="no 'services' mapping"):
        run("import", str(bad), "--name", "x")
    assert not Stack.objects.exists()
