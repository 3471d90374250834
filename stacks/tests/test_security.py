"""Safe by default: login limits, the production settings check, host-level
options, tokens, the admin's stack-wide validation and the audit log."""
import logging
import os
import stat
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from stacks.models import AuditRecord, Secret, Service, Stack
from stacks.tests.conftest import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Hashing a password costs 0.4 s by design; these tests log in dozens of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="10.1.2.3")


# --- Login limits ----------------------------------------------------------------

def test_five_failures_lock_the_account_with_a_clear_message_and_a_log_line(client, operator, caplog):
    caplog.set_level(logging.WARNING, logger="axes")
    for _ in range(4):
        assert login(client, "olga", "wrong").status_code == 200
    r = login(client, "olga", "wrong")
    assert r.status_code == 429
    assert "Too many failed logins" in r.content.decode() and "Try again later" in r.content.decode()
    assert any("Locking out" in rec.getMessage() for rec in caplog.records)
    # Even the right password is refused now.
    r = login(client, "olga", "operator-pass")
    assert r.status_code == 429 and "_auth_user_id" not in client.session
    assert AuditRecord.objects.filter(action="login failed", target="olga", address="10.1.2.3").count() >= 5
    assert AuditRecord.objects.filter(action="login locked", target="olga").exists()


def test_an_admin_unlocks_a_locked_account(client, operator):
    for _ in range(5):
        login(client, "olga", "wrong")
    admin = User.objects.create_superuser("root", "r@example.com", "root-pass-123")
    client.force_login(admin)
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="olga")
    r = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    client.logout()
    r = login(client, "olga", "operator-pass")
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(operator.pk)
    assert AuditRecord.objects.filter(action="login", target="olga").exists()


# --- Production mode -------------------------------------------------------------

def production_env(**extra):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright in this
    # process; a deployment never has it.
    return {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, "DEBUG": "0", **extra}


def test_check_deploy_is_clean_behind_a_tls_proxy():
    env = production_env(PANEL_HTTPS="1", PANEL_TRUSTED_PROXIES="127.0.0.1")
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues" in out.stdout


def test_without_https_check_deploy_names_what_is_missing():
    env = production_env(PANEL_HTTPS="0")
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "security.W004" in out.stderr + out.stdout


def test_the_sqlite_file_and_var_are_owner_only(tmp_path):
    from django.db.utils import ConnectionHandler

    db = tmp_path / "db.sqlite3"
    db.write_text("")
    db.chmod(0o644)
    connection = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db)}})["default"]
    connection.ensure_connection()
    connection.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((ROOT / "var").stat().st_mode) == 0o700


def test_render_out_writes_an_owner_only_directory(defaults, tmp_path):
    out = tmp_path / "bundle"
    call_command("stack", "render", "app", "--out", str(out), stdout=StringIO(), stderr=StringIO())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert (out / "docker-compose.yml").is_file()


# --- Host-level options ----------------------------------------------------------

def test_host_level_options_are_refused_and_named_unless_an_admin_approved_them(defaults):
    from stacks.models import HostConsent
    from stacks.validation import containment
    from stacks.validation.checks import errors, validate_stack

    stack = Stack.objects.get(slug="app")
    web = Service.objects.get(stack=stack, name="web")
    web.volumes = [*web.volumes, "/var/run/docker.sock:/var/run/docker.sock", "/:/host:ro"]
    web.save()
    messages = [f"{p.where}: {p.message}" for p in errors(validate_stack(stack))]
    assert any(m.startswith("services.web.volumes[") and "/var/run/docker.sock" in m for m in messages)
    assert any("a bind mount of / reaches outside" in m and "an admin must approve it" in m for m in messages)
    HostConsent.approve(stack, containment.of_stack(stack), via="test")
    assert not [p for p in errors(validate_stack(stack)) if containment.needs_consent(p)]


def test_each_host_level_option_is_recognised():
    from stacks.validation.containment import find

    doc = {"services": {"x": {"privileged": True, "cap_add": ["ALL"], "network_mode": "host", "pid": "host",
                              "ipc": "host", "devices": ["/dev/fuse"],
                              "volumes": ["/proc:/p", "/sys/fs:/s", "/run/docker.sock:/d", "./ok:/ok",
                                          "data:/data", "/srv/app:/app"]}}}
    assert [o.option for o in find(doc, "p")] == [
        "privileged: true", "cap_add: ALL", "network_mode: host", "pid: host", "ipc: host", "devices: /dev/fuse",
        "volumes: /proc:/p", "volumes: /sys/fs:/s", "volumes: /run/docker.sock:/d", "volumes: /srv/app:/app"]


def test_load_defaults_approves_the_monitoring_stacks_host_options_only(defaults):
    from stacks.models import HostConsent

    assert set(HostConsent.objects.values_list("stack__slug", flat=True)) == {"monitoring"}
    assert set(HostConsent.objects.values_list("approved_via", flat=True)) == {"defaults"}


def test_the_stack_page_names_each_host_level_option(client, defaults, operator):
    client.force_login(operator)
    html = client.get("/stacks/monitoring/").content.decode()
    assert "Host-level access" in html and "node-exporter: volumes: /proc:/host/proc:ro" in html
    assert "approved by an admin" in html and "approved by defaults" in html


def test_only_an_admin_opens_the_host_options_page(client, defaults, operator):
    stack = Stack.objects.get(slug="app")
    operator.is_staff = True  # operators edit in the admin
    operator.save()
    client.force_login(operator)
    assert client.get(f"/admin/stacks/stack/{stack.pk}/host-options/").status_code == 403
    assert client.post(f"/admin/stacks/stack/{stack.pk}/host-options/", {"approve": "all"}).status_code == 403
    admin = User.objects.create_superuser("root", "r@example.com", "root-pass-123")
    client.force_login(admin)
    assert client.get(f"/admin/stacks/stack/{stack.pk}/host-options/").status_code == 200


# --- Admin validation -----------------------------------------------------------

def stack_form(client, stack, **changes):
    """What the admin's stack page posts (its inlines too), with `changes`."""
    from stacks.tests.test_admin_stack_page import form_data

    data = form_data(client.get(f"/admin/stacks/stack/{stack.pk}/change/").content.decode())
    data.update(changes)
    return data


@pytest.mark.tools
def test_a_stack_edit_amtool_refuses_is_not_saved_and_shows_amtools_reason_on_the_field(client, defaults):
    client.force_login(User.objects.create_superuser("root", "r@example.com", "root-pass-123"))
    stack = Stack.objects.get(slug="monitoring")
    r = client.post(f"/admin/stacks/stack/{stack.pk}/change/",
                    stack_form(client, stack, alert_group_by='["bad-label!"]'))
    assert r.status_code == 200
    html = r.content.decode()
    assert "invalid label name" in html and "bad-label!" in html
    field_errors = html.split('id="id_alert_group_by"')[0].rsplit("field-alert_group_by", 1)[1]
    assert "invalid label name" in field_errors
    stack.refresh_from_db()
    assert stack.alert_group_by == ["alertname", "job"]
    assert AuditRecord.objects.filter(action__startswith="admin").count() == 0


def test_an_admin_edit_is_audited(client, defaults):
    client.force_login(User.objects.create_superuser("root", "r@example.com", "root-pass-123"))
    stack = Stack.objects.get(slug="app")
    r = client.post(f"/admin/stacks/stack/{stack.pk}/change/", stack_form(client, stack, name="Renamed"),
                    REMOTE_ADDR="10.9.8.7")
    assert r.status_code == 302
    entry = AuditRecord.objects.get(action="admin change")
    assert (entry.username, entry.address, entry.target) == ("root", "10.9.8.7", "stack app")
    assert "Name" in entry.detail


def test_the_audit_page_is_for_admins_only(client, defaults, operator):
    AuditRecord.objects.create(username="olga", action="acknowledge", target="alert X #1")
    operator.is_staff = True  # operators edit in the admin
    operator.save()
    client.force_login(operator)
    assert client.get("/admin/stacks/auditrecord/").status_code == 403
    client.force_login(User.objects.create_superuser("root", "r@example.com", "root-pass-123"))
    r = client.get("/admin/stacks/auditrecord/")
    assert r.status_code == 200 and "alert X #1" in r.content.decode()


# --- Tokens ----------------------------------------------------------------------

def test_rotating_a_token_replaces_it_and_redeploys_only_deployed_stacks_that_carry_it(defaults, monkeypatch):
    from stacks.accounts.tokens import metrics_token, webhook_token
    from stacks.models import Deployment

    monkeypatch.delenv("PANEL_WEBHOOK_TOKEN", raising=False)
    old_webhook, old_metrics = webhook_token(), metrics_token()
    assert old_webhook != old_metrics
    monitoring = Stack.objects.get(slug="monitoring")
    Deployment.objects.create(stack=monitoring, action="deploy", status="succeeded")
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", lambda *a: None)  # no worker here: the queued row is the proof
    out = StringIO()
    call_command("tokens", "rotate", "webhook", stdout=out)
    assert webhook_token() != old_webhook and metrics_token() == old_metrics
    assert "never printed" in out.getvalue() and webhook_token() not in out.getvalue()
    assert monitoring.deployments.filter(action="deploy", status="queued").count() == 1
    assert AuditRecord.objects.filter(action="rotate token", target="webhook token").exists()


def test_a_token_from_the_environment_is_not_rotated_here(defaults, monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("PANEL_METRICS_TOKEN", "from-env")
    with pytest.raises(CommandError, match="PANEL_METRICS_TOKEN"):
        call_command("tokens", "rotate", "metrics", stdout=StringIO())
    assert not Secret.objects.filter(name="panel_metrics_token").exists()


def test_an_acknowledgement_is_audited_once(client, operator):
    from stacks.models import Alert

    alert = Alert.objects.create(fingerprint="ab12", starts_at="2026-11-24T10:00Z", status="firing", name="Down",
                                 labels={"alertname": "Down"})
    client.force_login(operator)
    for _ in range(2):
        assert client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "on it"},
                           REMOTE_ADDR="10.0.0.7").status_code == 302
    entry = AuditRecord.objects.get(action="acknowledge")
    assert (entry.username, entry.target, entry.address) == ("olga", f"alert Down #{alert.pk}", "10.0.0.7")


def test_an_import_with_host_level_options_is_refused_by_name_and_a_good_one_audited(client, defaults, operator):
    client.force_login(operator)
    text = "services:\n  agent:\n    image: x\n    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n"
    r = client.post("/stacks/import/", {"slug": "agent", "compose": text})
    assert r.status_code == 200 and "bind mount of /var/run/docker.sock" in r.content.decode()
    assert not Stack.objects.filter(slug="agent").exists()
    r = client.post("/stacks/import/", {"slug": "plain", "compose": "services:\n  web:\n    image: nginx\n"},
                    REMOTE_ADDR="10.0.0.8")
    assert r.status_code == 302
    assert AuditRecord.objects.filter(action="import", target="stack plain", username="olga",
                                      address="10.0.0.8").exists()
