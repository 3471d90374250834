"""Adopted config files the rows hold: Grafana provisioning, fluent.conf and DNS
service discovery become rows when rendering them back means the same (both
sides parsed), and stay the team's files, byte for byte, when it would not."""
import shutil

import pytest
import yaml
from django.core.exceptions import ValidationError

from stacks.adoption.fluentconf import Directive, Unsupported, parse
from stacks.models import ScrapeJob, Stack
from stacks.render import FLUENTD_FILE, PROMETHEUS_FILE, render_bundle
from stacks.tests.test_adoption import PROJECTS, grafana_view, rendered_dir, run, tool_ok

pytestmark = pytest.mark.django_db


def copy_project(name, tmp_path):
    target = tmp_path / name
    shutil.copytree(PROJECTS / name, target)
    return target


# --- Grafana ------------------------------------------------------------------------

def test_grafana_provisioning_named_by_uid_becomes_rows(tmp_path):
    run("import", str(PROJECTS / "grafana-rows"), "--name", "grafana")
    stack = Stack.objects.get(slug="grafana")
    assert not stack.files.exists()
    assert list(stack.datasources.values_list("name", "uid", "url", "is_default", "editable", "json_data")) == [
        ("Loki", "", "http://loki:3100", False, True, {}),
        ("Prometheus", "prom", "http://prometheus:9090", True, False, {"timeInterval": "15s"})]
    assert stack.grafana_dashboard_provider == {"name": "team", "folder": "Services", "disableDeletion": False,
                                                "updateIntervalSeconds": 60}
    dashboard = stack.dashboards.get()
    assert (dashboard.slug, dashboard.title) == ("http-overview", "HTTP overview")
    assert grafana_view(rendered_dir("grafana", tmp_path)) == grafana_view(PROJECTS / "grafana-rows")


def test_a_dashboard_the_rows_cannot_hold_keeps_its_whole_directory(tmp_path):
    project = copy_project("grafana-rows", tmp_path)
    (project / "grafana/dashboards/no-uid.json").write_text('{"title": "No uid", "panels": []}\n')
    run("import", str(project), "--name", "grafana")
    stack = Stack.objects.get(slug="grafana")
    assert not stack.dashboards.exists() and stack.datasources.count() == 2
    assert sorted(stack.files.values_list("path", flat=True)) == [
        "grafana/dashboards/http-overview.json", "grafana/dashboards/no-uid.json"]
    target = rendered_dir("grafana", tmp_path)
    for name in ("http-overview.json", "no-uid.json"):
        assert (target / "grafana/dashboards" / name).read_bytes() == (project / "grafana/dashboards" / name).read_bytes()


@pytest.mark.parametrize("change", [
    "    secureJsonData:\n      password: hunter2\n",  # the rows keep no secrets of Grafana's
    "    access: direct\n",
    "    orgId: 2\n",
])
def test_a_datasource_the_rows_cannot_hold_stays_the_teams_file(change, tmp_path):
    project = copy_project("grafana-rows", tmp_path)
    path = project / "grafana/provisioning/datasources/datasources.yaml"
    path.write_text(path.read_text() + change)
    run("import", str(project), "--name", "grafana")
    stack = Stack.objects.get(slug="grafana")
    assert not stack.datasources.exists()
    files = render_bundle(stack).files
    # The team's file alone: the panel writes none of its own beside it.
    assert [p for p in files if "datasources" in p] == ["grafana/provisioning/datasources/datasources.yaml"]
    assert files["grafana/provisioning/datasources/datasources.yaml"] == path.read_text()


def test_a_provider_reading_elsewhere_stays_the_teams_file(tmp_path):
    project = copy_project("grafana-rows", tmp_path)
    path = project / "grafana/provisioning/dashboards/providers.yml"
    path.write_text(path.read_text().replace("/var/lib/grafana/dashboards", "/etc/grafana/provisioning/dashboards"))
    run("import", str(project), "--name", "grafana")
    stack = Stack.objects.get(slug="grafana")
    assert stack.grafana_dashboard_provider == {}
    assert stack.files.filter(path="grafana/provisioning/dashboards/providers.yml").exists()
    assert "grafana/provisioning/dashboards/dashboards.yml" not in render_bundle(stack).files


def test_provider_settings_are_checked_on_save():
    stack = Stack(slug="s", name="s", grafana_dashboard_provider={"updateIntervalSeconds": "10"})
    with pytest.raises(ValidationError, match="updateIntervalSeconds: a int"):
        stack.full_clean(exclude=["engine"])
    stack.grafana_dashboard_provider = {"options": {"path": "/x"}}
    with pytest.raises(ValidationError, match="options: not a setting the panel renders"):
        stack.full_clean(exclude=["engine"])


# --- fluent.conf -----------------------------------------------------------------------

def test_the_tutorials_fluent_conf_becomes_log_routes(tmp_path):
    run("import", str(PROJECTS / "logging"), "--name", "logging")
    stack = Stack.objects.get(slug="logging")
    assert list(stack.log_routes.values_list("tag_pattern", "index", "flush_interval", "options")) == [
        ("docker.**", "docker-logs", "1s", {"type_name": "_doc"})]
    # The tutorial has no <match fluent.**>: Fluentd's own events go to its stdout match, as they did.
    assert (stack.fluentd_drop_own_events, stack.fluentd_stdout_unmatched) == (False, True)
    assert list(stack.files.values_list("path", flat=True)) == ["fluentd/Dockerfile", "logstash/pipeline/logstash.conf"]
    target = rendered_dir("logging", tmp_path)
    assert parse((target / FLUENTD_FILE).read_text()) == parse((PROJECTS / "logging" / FLUENTD_FILE).read_text())


@pytest.mark.parametrize("change", [
    ("<match **>", "<filter docker.**>\n  @type record_transformer\n</filter>\n\n<match **>"),
    ("<match **>", "@include extra.conf\n\n<match **>"),
    ("host elasticsearch", "host logs.example.com"),
    ("@type elasticsearch", "@type file\n  path /var/log/td"),
    ("flush_interval 1s", "flush_interval 1s\n    chunk_limit_size 8m"),
    ("index_name docker-logs", 'index_name "docker-#{ENV[\'STAGE\']}"'),
    ("  port 24224", "  port 24225"),
])
def test_a_fluent_conf_that_does_not_map_cleanly_stays_verbatim(change, tmp_path):
    project = copy_project("logging", tmp_path)
    path = project / FLUENTD_FILE
    path.write_text(path.read_text().replace(*change))
    run("import", str(project), "--name", "logging")
    stack = Stack.objects.get(slug="logging")
    assert not stack.log_routes.exists()
    assert render_bundle(stack).files[FLUENTD_FILE] == path.read_text()


def test_the_fluentd_reader_reads_values_as_fluentd_does():
    conf = parse('<match app.**>  # a comment\n  @type elasticsearch\n  host "es\\"1" # quoted\n'
                 "  index_name 'logs' \n  tag a#b\n  hosts [\"x\", \"y\"]\n  flag\n  <buffer tag>\n"
                 "  </buffer>\n</match>\n")
    assert conf.children == [Directive("match", "app.**", {
        "@type": "elasticsearch", "host": 'es"1', "index_name": "logs", "tag": "a#b",
        "hosts": ("json", '["x", "y"]'), "flag": ""}, [Directive("buffer", "tag")])]
    for text, message in [("<match a>\n", "not closed"), ("</match>\n", "closes nothing"),
                          ("@include x.conf\n", "@include"), ('<match a>\n k "#{1}"\n</match>\n', "embeds Ruby")]:
        with pytest.raises(Unsupported, match=message):
            parse(text)


# --- DNS service discovery -------------------------------------------------------------------

def test_dns_discovery_jobs_become_rows_and_mean_the_same(tmp_path):
    run("import", str(PROJECTS / "dns-sd"), "--name", "dns")
    stack = Stack.objects.get(slug="dns")
    assert not stack.files.exists()
    web, registry = stack.scrape_jobs.get(job_name="web"), stack.scrape_jobs.get(job_name="registry")
    assert (web.targets, web.dns_sd_configs) == ([], [{"names": ["web"], "type": "A", "port": 3000}])
    assert registry.dns_sd_configs == [{"names": ["_metrics._tcp.registry.example.com"], "refresh_interval": "1m"}]
    target = rendered_dir("dns", tmp_path)
    tool_ok(["promtool", "check", "config", "--syntax-only", PROMETHEUS_FILE], target)
    rendered = yaml.safe_load((target / PROMETHEUS_FILE).read_text())
    # Every replica found names its stack and service; the registry's are not ours to name.
    web_job = next(j for j in rendered["scrape_configs"] if j["job_name"] == "web")
    assert {(r["target_label"], r["replacement"]) for r in web_job["relabel_configs"]} == {
        ("stack", "dns"), ("service", "web")}
    registry_job = next(j for j in rendered["scrape_configs"] if j["job_name"] == "registry")
    assert "relabel_configs" not in registry_job


def test_a_dns_job_with_what_the_rows_do_not_hold_stays_verbatim(tmp_path):
    project = copy_project("dns-sd", tmp_path)
    path = project / PROMETHEUS_FILE
    path.write_text(path.read_text().replace("        type: A\n", "        type: MX\n"))
    run("import", str(project), "--name", "dns")
    stack = Stack.objects.get(slug="dns")
    assert not stack.scrape_jobs.exists()
    assert render_bundle(stack).files[PROMETHEUS_FILE] == path.read_text()


@pytest.mark.parametrize("configs,message", [
    ([{"names": ["web"], "type": "A"}], "needs the port"),
    ([{"names": ["_x._tcp.web"], "port": 80}], "SRV record names its own port"),
    ([{"names": [], "type": "A", "port": 80}], "names is a list"),
    ([{"names": ["web"], "type": "A", "port": 80, "tls": True}], "a mapping of"),
    ([], "A job scrapes targets"),
])
def test_a_jobs_dns_discovery_is_checked(configs, message):
    stack = Stack.objects.create(slug="s", name="s")
    job = ScrapeJob(stack=stack, job_name="j", targets=[], dns_sd_configs=configs)
    with pytest.raises(ValidationError, match=message):
        job.full_clean()


# --- Top-level keys ---------------------------------------------------------------------------

def test_top_level_options_configs_and_secrets_are_kept_as_written():
    run("import", str(PROJECTS / "top-level"), "--name", "top")
    stack = Stack.objects.get(slug="top")
    back = stack.networks.get(key="back")
    assert back.driver == "bridge" and back.extra["internal"] is True
    assert back.extra["ipam"] == {"config": [{"subnet": "172.28.5.0/24"}]}
    assert stack.volumes.get(key="archive").extra == {"name": "team-archive"}
    assert stack.compose_extra["configs"] == {"app_conf": {"file": "./conf/app.conf"}}
    assert set(stack.compose_extra) == {"x-defaults", "configs", "secrets"}
    # The files they name come along, kept byte for byte.
    assert sorted(stack.files.values_list("path", flat=True)) == ["conf/app.conf", "secrets/db_password.txt"]
    doc = render_bundle(stack).compose
    assert doc["volumes"]["cache"]["driver_opts"]["type"] == "tmpfs"
    assert doc["services"]["app"]["secrets"] == ["db_password"]


def test_a_top_level_name_is_the_stacks(tmp_path):
    (tmp_path / "compose.yaml").write_text("name: shop\nservices:\n  web:\n    image: x\n")
    with pytest.raises(Exception, match="name: the project is named 'shop': import it as 'shop'"):
        run("import", str(tmp_path), "--name", "other")
    run("import", str(tmp_path), "--name", "shop")
    assert "name" not in render_bundle(Stack.objects.get(slug="shop")).compose  # Compose gets it as -p


# --- ${VAR} interpolation ------------------------------------------------------------------------

def test_variables_come_from_the_projects_env_file(monkeypatch):
    monkeypatch.delenv("TAG", raising=False)
    monkeypatch.delenv("MODE", raising=False)
    run("import", str(PROJECTS / "dotenv"), "--name", "env")
    web = Stack.objects.get(slug="env").services.get(name="web")
    assert web.image == "nginx:1.27" and web.ports == ["127.0.0.1:8088:80"]
    assert web.environment == {"GREETING": "hello $$world", "MODE": "production", "PRICE": "$5"}


def test_the_command_lines_environment_wins_over_the_env_file(monkeypatch):
    monkeypatch.setenv("TAG", "1.28")
    monkeypatch.setenv("MODE", "staging")
    run("import", str(PROJECTS / "dotenv"), "--name", "env")
    web = Stack.objects.get(slug="env").services.get(name="web")
    assert web.image == "nginx:1.28" and web.environment["MODE"] == "staging"


def test_a_variable_set_nowhere_is_refused_by_its_key_path(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx:${PANEL_TEST_UNSET_TAG}\n")
    with pytest.raises(Exception, match=r"services.web.image: \$\{PANEL_TEST_UNSET_TAG\} is set neither in the "
                                        r"project's .env nor in the environment"):
        run("import", str(tmp_path), "--name", "unset")
    assert not Stack.objects.exists()


def test_the_import_page_never_reads_the_servers_environment(client, operator, monkeypatch):
    monkeypatch.setenv("PANEL_TEST_SERVER_ONLY", "server-secret")
    client.force_login(operator)
    r = client.post("/stacks/import/", {"slug": "leak", "compose":
                                        "services:\n  web:\n    image: x\n    environment:\n      A: ${PANEL_TEST_SERVER_ONLY}\n"})
    assert r.status_code == 200 and "PANEL_TEST_SERVER_ONLY} is set neither" in r.content.decode()
    assert not Stack.objects.exists()


def test_several_compose_files_are_merged_as_compose_merges_them(tmp_path):
    from stacks.adoption.project_dir import merged_compose, read_path

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("x = 1\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:${TAG:-1.25}\n    environment: [A=1]\n    ports: ['8080:80']\n"
        "    volumes: ['./conf:/conf:ro']\n")
    (tmp_path / "docker-compose.prod.yml").write_text(
        "services:\n  web:\n    environment: [B=2]\n    ports: ['8443:443']\n  db:\n    image: postgres:16\n")
    text = merged_compose(tmp_path, ["docker-compose.yml", "docker-compose.prod.yml"])
    project = read_path(tmp_path / "docker-compose.yml", text)
    assert project.files == {"conf/app.conf": "x = 1\n"}
    from stacks.adoption.importer import import_project

    stack, problems = import_project(project, "merged")
    web = stack.services.get(name="web")
    assert web.image == "nginx:1.25" and web.environment == {"A": "1", "B": "2"}
    assert web.ports == ["8080:80", "8443:443"] and web.volumes == ["./conf:/conf:ro"]
    assert stack.services.filter(name="db").exists()


# --- Binary files ----------------------------------------------------------------------------------

def test_a_binary_file_in_a_build_context_is_kept_byte_for_byte(tmp_path):
    run("import", str(PROJECTS / "binary-context"), "--name", "site")
    logo = Stack.objects.get(slug="site").files.get(path="site/logo.png")
    assert logo.binary
    original = (PROJECTS / "binary-context/site/logo.png").read_bytes()
    assert render_bundle(logo.stack).files["site/logo.png"].data == original
    assert (rendered_dir("site", tmp_path) / "site/logo.png").read_bytes() == original


@pytest.mark.parametrize("compose,message", [
    ("services:\n  a:\n    image: x\n    configs: [missing]\n", "uses config 'missing', which the stack does not "
                                                                 "declare"),
    ("services:\n  a:\n    image: x\n    volumes: ['./nothing:/n']\n", "mounts ./nothing, which the stack does not "
                                                                       "produce"),
])
def test_what_a_service_names_must_exist(compose, message):
    from stacks.adoption.importer import import_and_validate

    stack, problems = import_and_validate(compose, "named")
    assert stack is None and any(message in p for p in problems)


def test_an_alertmanager_yml_the_rows_hold_becomes_receivers_routes_and_inhibit_rules(tmp_path):
    (tmp_path / "alertmanager").mkdir()
    (tmp_path / "compose.yaml").write_text(
        "services:\n  alertmanager:\n    image: prom/alertmanager:v0.27.0\n"
        "    volumes: ['./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro']\n")
    (tmp_path / "alertmanager/alertmanager.yml").write_text("""
route:
  receiver: team
  group_by: [alertname]
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
receivers:
  - name: team
    webhook_configs: [{url: 'http://hooks.example.com/team'}]
  - name: pager
    webhook_configs: [{url: 'http://hooks.example.com/pager', send_resolved: false}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
""")
    run("import", str(tmp_path), "--name", "am")
    stack = Stack.objects.get(slug="am")
    assert not stack.files.exists() and stack.alert_group_by == ["alertname"]
    assert list(stack.routes.values_list("receiver__name", "matchers")) == [("pager", ['severity="critical"'])]
    assert stack.receivers.get(is_default=True).name == "team" and stack.inhibit_rules.count() == 1
    tool_ok(["amtool", "check-config", "alertmanager/alertmanager.yml"], rendered_dir("am", tmp_path))


def test_a_dns_name_no_service_answers_is_a_warning():
    from stacks.validation.checks import validate_stack

    run("import", str(PROJECTS / "dns-sd"), "--name", "dns")
    stack = Stack.objects.get(slug="dns")
    assert not [p for p in validate_stack(stack) if "DNS name" in str(p)]
    stack.scrape_jobs.filter(job_name="web").update(dns_sd_configs=[{"names": ["wbe"], "type": "A", "port": 3000}])
    assert ("warning: scrape job web: DNS name wbe: no service of that name on prometheus's networks; it finds "
            "no target.") in [str(p) for p in validate_stack(stack)]


def test_a_project_the_panel_deployed_comes_back_as_rows_with_the_token_of_today(tmp_path):
    """A stack's own rendered directory imported again (a database restored from an
    older backup): the heartbeat rule file, its route and the receiver posting to
    this panel are the panel's, not the team's files; the rows render them back,
    with the webhook token as it is now, not as it was written."""
    from stacks.accounts.tokens import rotate, webhook_token
    from stacks.defaults.demo import mini_monitoring
    from stacks.render import ALERTMANAGER_FILE, HEARTBEAT_FILE

    mini_monitoring(slug="mon", prom_port=29090, am_port=29093)
    before = rendered_dir("mon", tmp_path)
    assert (before / HEARTBEAT_FILE).exists()
    old_token = webhook_token()
    Stack.objects.get(slug="mon").delete()
    rotate("webhook")

    run("import", str(before), "--name", "mon")
    stack = Stack.objects.get(slug="mon")
    assert not stack.files.exists()  # nothing kept verbatim
    assert list(stack.receivers.values_list("name", "kind")) == [("control-panel", "panel")]
    assert not stack.routes.exists() and stack.alert_rules.count() == 1
    after = rendered_dir("mon", tmp_path / "again")
    am = (after / ALERTMANAGER_FILE).read_text()
    assert webhook_token() in am and old_token not in am
    assert (after / HEARTBEAT_FILE).read_text() == (before / HEARTBEAT_FILE).read_text()
    assert am.replace(webhook_token(), old_token) == (before / ALERTMANAGER_FILE).read_text()
    tool_ok(["amtool", "check-config", ALERTMANAGER_FILE], after)


def test_a_receiver_posting_to_another_panel_stays_the_teams_file(tmp_path, settings):
    from stacks.defaults.demo import mini_monitoring
    from stacks.render import ALERTMANAGER_FILE

    mini_monitoring(slug="mon", prom_port=29090, am_port=29093)
    before = rendered_dir("mon", tmp_path)
    Stack.objects.get(slug="mon").delete()
    settings.PANEL_URL_FOR_STACKS = "http://panel.elsewhere.example:8000"  # this panel is another
    run("import", str(before), "--name", "mon")
    stack = Stack.objects.get(slug="mon")
    assert list(stack.files.values_list("path", flat=True)) == [ALERTMANAGER_FILE]
    assert not stack.receivers.exists()
    assert (rendered_dir("mon", tmp_path / "again") / ALERTMANAGER_FILE).read_bytes() == \
        (before / ALERTMANAGER_FILE).read_bytes()


def test_an_alertmanager_told_to_read_another_file_gets_no_file_of_the_panels(tmp_path):
    """dockprom's shape: Alertmanager mounts its whole directory and reads
    config.yml there (--config.file). The panel writes no alertmanager.yml beside
    it that nothing would read, and does not call the stack receiver-less."""
    from stacks.render import ALERTMANAGER_FILE
    from stacks.validation.checks import validate_stack

    (tmp_path / "alertmanager").mkdir()
    config = ("route:\n    receiver: 'slack'\n\nreceivers:\n    - name: 'slack'\n      slack_configs:\n"
              "          - send_resolved: true\n            channel: '#ops'\n"
              "            api_url: 'https://hooks.slack.com/services/x'\n")
    (tmp_path / "alertmanager/config.yml").write_text(config)
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  alertmanager:\n    image: prom/alertmanager:v0.28.1\n"
        "    volumes: ['./alertmanager:/etc/alertmanager']\n"
        "    command: ['--config.file=/etc/alertmanager/config.yml', '--storage.path=/alertmanager']\n")
    run("import", str(tmp_path), "--name", "dockprom-like")
    stack = Stack.objects.get(slug="dockprom-like")
    bundle = render_bundle(stack)
    assert ALERTMANAGER_FILE not in bundle.files and bundle.files["alertmanager/config.yml"] == config
    assert not [p for p in validate_stack(stack, bundle) if p.severity == "error"]

    # Told to read the panel's file, it gets it (and the check holds again).
    service = stack.services.get(name="alertmanager")
    service.command = ["--config.file=/etc/alertmanager/alertmanager.yml"]
    service.save()
    bundle = render_bundle(stack)
    assert ALERTMANAGER_FILE in bundle.files
    assert any("no receiver" in p.message for p in validate_stack(stack, bundle))
