"""Accounts and headers: the client address (X-Forwarded-For believed only from
PANEL_TRUSTED_PROXIES, for the audit log and the lockout alike), the
Content-Security-Policy and the other headers on every page, an access log
without query strings, password reset only with mail, and the lockout keyed by
user name and address together."""
import os
import subprocess
import time
from html.parser import HTMLParser

import pytest
import requests
from django.core import mail

from stacks.lib.forwarded import client_address, parse_networks
from stacks.models import Alert, AuditRecord, Deployment, Stack
from stacks.tests.conftest import ROOT, free_port, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Hashing a password costs 0.4 s by design; these tests log in dozens of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client, username, password, address="10.1.2.3", forwarded=None):
    headers = {"REMOTE_ADDR": address}
    if forwarded:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/accounts/login/", {"username": username, "password": password}, **headers)


def logged_in(client, user):
    return client.session.get("_auth_user_id") == str(user.pk)


# --- Who the client is ---------------------------------------------------------------

def test_it_takes_the_right_most_address_that_is_not_a_trusted_proxy():
    proxies = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert client_address("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.5", proxies) == "203.0.113.9"
    assert client_address("::1", "[2001:db8::7]:443", proxies) == "2001:db8::7"
    assert client_address("::ffff:127.0.0.1", "203.0.113.9:5123", proxies) == "203.0.113.9"
    # Not from a proxy: the header is the client's word, not evidence.
    assert client_address("192.0.2.1", "203.0.113.9", proxies) == "192.0.2.1"
    # Garbage ends the walk at the last proxy vouched for.
    assert client_address("127.0.0.1", "203.0.113.9, junk", proxies) == "127.0.0.1"
    # Every hop a proxy: the left-most.
    assert client_address("127.0.0.1", "10.0.0.9, 10.0.0.5", proxies) == "10.0.0.9"
    assert client_address("127.0.0.1", "", proxies) == "127.0.0.1"
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        parse_networks(["10.0.0.0/33"])


def test_a_forged_x_forwarded_for_is_ignored_in_the_audit_log_even_with_https(client, operator, settings):
    settings.PANEL_HTTPS = True
    settings.PANEL_TRUSTED_PROXIES = []
    login(client, "olga", "wrong", address="192.0.2.1", forwarded="6.6.6.6")
    entry = AuditRecord.objects.get(action="login failed")
    assert entry.address == "192.0.2.1"


def test_a_forged_x_forwarded_for_does_not_evade_the_lockout(client, operator, settings):
    settings.PANEL_HTTPS = True
    settings.PANEL_TRUSTED_PROXIES = []
    for n in range(5):
        r = login(client, "olga", "wrong", address="192.0.2.1", forwarded=f"198.51.100.{n}")
    assert r.status_code == 429
    r = login(client, "olga", "operator-pass", address="192.0.2.1", forwarded="198.51.100.77")
    assert r.status_code == 429 and not logged_in(client, operator)
    assert set(AuditRecord.objects.values_list("address", flat=True)) == {"192.0.2.1"}


def test_a_configured_proxy_is_believed_for_the_audit_log_and_the_lockout(client, operator, settings):
    settings.PANEL_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    for _ in range(5):
        r = login(client, "olga", "wrong", address="127.0.0.1", forwarded="6.6.6.6, 203.0.113.9, 10.0.0.5")
    assert r.status_code == 429
    assert set(AuditRecord.objects.values_list("address", flat=True)) == {"203.0.113.9"}
    # The same user at another address behind the same proxy is not locked out.
    r = login(client, "olga", "operator-pass", address="127.0.0.1", forwarded="203.0.113.10")
    assert r.status_code == 302 and logged_in(client, operator)
    assert AuditRecord.objects.get(action="login").address == "203.0.113.10"


def https_settings(settings, trusted):
    settings.PANEL_HTTPS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.PANEL_TRUSTED_PROXIES = trusted


def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(client, settings):
    https_settings(settings, ["127.0.0.1"])
    r = client.get("/accounts/login/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_PROTO="https")
    assert r.status_code == 301 and r["Location"].startswith("https://")
    r = client.get("/accounts/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    assert r.status_code == 200


def test_https_without_a_trusted_proxy_is_a_warning_of_the_deploy_check(settings):
    from stacks.accounts.proxies import check_trusted_proxies

    https_settings(settings, [])
    assert [m.id for m in check_trusted_proxies()] == ["stacks.W020"]
    settings.PANEL_TRUSTED_PROXIES = ["127.0.0.1"]
    assert check_trusted_proxies() == []
    settings.PANEL_TRUSTED_PROXIES = ["proxy.example"]
    (error,) = check_trusted_proxies()
    assert error.id == "stacks.E020" and "'proxy.example'" in error.msg


# --- Headers and the Content-Security-Policy -------------------------------------------

class InlineCode(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts, event handler
    attributes, javascript: URLs, inline <style> and style attributes."""

    def __init__(self):
        super().__init__()
        self.found, self._in_script = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            executable = attrs.get("type", "text/javascript") in ("text/javascript", "module", "")
            self._in_script = executable and not attrs.get("src")
            if self._in_script:
                self.found.append(f"<script> without src: {attrs}")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs.items():
            if name.startswith("on") or name == "style" or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "hx-vals" and (value or "").strip().startswith("js:"):
                self.found.append(f"<{tag} hx-vals=js:…>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def inline_code(html):
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def pages(defaults, operator):
    """The main pages, as an operator (staff, to see the admin) sees them."""
    operator.is_staff = True
    operator.save()
    stack = Stack.objects.get(slug="monitoring")
    alert = Alert.objects.create(fingerprint="ab12", starts_at="2026-11-24T10:00Z", status="firing", name="Down",
                                 severity="critical", labels={"alertname": "Down"}, stack=stack)
    deployment = Deployment.objects.create(stack=stack, action="deploy", status="succeeded")
    return ["/", f"/stacks/{stack.slug}/", "/alerts/", f"/alerts/{alert.pk}/", f"/deployments/{deployment.pk}/",
            "/stacks/import/", "/admin/", f"/admin/stacks/stack/{stack.pk}/change/"]


def test_every_page_carries_a_strict_csp_and_the_other_headers(client, pages, operator):
    client.force_login(operator)
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
        csp = r["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'" and "unsafe" not in csp, url
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'", url
        assert r["X-Frame-Options"] == "DENY" and r["X-Content-Type-Options"] == "nosniff", url
        assert r["Referrer-Policy"] == "same-origin", url
    client.logout()
    for url in ("/accounts/login/", "/admin/login/", "/webhooks/alertmanager/", "/static/panel.css"):
        assert "script-src 'self'" in client.get(url)["Content-Security-Policy"], url


def test_no_page_has_inline_script_or_style(client, pages, operator):
    client.force_login(operator)
    for url in pages:
        html = client.get(url).content.decode()
        assert inline_code(html) == [], url
        htmx = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert inline_code(htmx) == [], f"{url} (htmx fragment)"
    client.logout()
    for url in ("/accounts/login/", "/admin/login/"):
        assert inline_code(client.get(url).content.decode()) == [], url
    # The parser sees what it is meant to see.
    assert inline_code('<script>alert(1)</script><a onclick="x()" href="javascript:y()">') == [
        "<script> without src: {}", "<a onclick='x()'>", "<a href='javascript:y()'>"]
    assert inline_code('<script src="/static/a.js"></script><script type="application/json">{}</script>') == []


# --- Password reset needs mail ------------------------------------------------------------

def test_without_mail_password_reset_is_not_offered(client, operator, settings):
    settings.PANEL_PASSWORD_RESET = False
    for url in ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/MQ/set-password/",
                "/accounts/reset/done/"):
        assert client.get(url).status_code == 404, url
    assert client.post("/accounts/password_reset/", {"email": "o@example.com"}).status_code == 404
    assert "password_reset" not in client.get("/accounts/login/").content.decode()
    assert mail.outbox == []


def test_with_mail_configured_password_reset_is_offered_and_sends_the_link(client, operator, settings):
    settings.PANEL_PASSWORD_RESET = True
    operator.email = "olga@example.com"
    operator.save()
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login_page and "Forgot your password?" in login_page
    assert client.get("/accounts/password_reset/").status_code == 200
    r = client.post("/accounts/password_reset/", {"email": "olga@example.com"})
    assert r.status_code == 302 and r["Location"] == "/accounts/password_reset/done/"
    (message,) = mail.outbox
    assert message.to == ["olga@example.com"] and "/accounts/reset/" in message.body


def test_the_setting_follows_email_host():
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_HOST", "PANEL_PASSWORD_RESET",
                                                            "DJANGO_ALLOW_ASYNC_UNSAFE")}
    code = "from django.conf import settings; print(settings.PANEL_PASSWORD_RESET)"
    run = [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-v", "0", "-c", code]
    assert subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout.strip() == "False"
    out = subprocess.run(run, cwd=ROOT, env={**env, "EMAIL_HOST": "smtp.example"}, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "True", out.stderr


# --- Lockout by user and address together ----------------------------------------------------

def test_a_locked_user_does_not_lock_out_the_other_users_at_that_address(client, operator, viewer):
    for _ in range(4):
        assert login(client, "olga", "wrong").status_code == 200
    r = login(client, "olga", "wrong")
    assert r.status_code == 429
    page = r.content.decode()
    assert "logging in as olga" in page and "from this address is locked" in page
    assert "other users here can still log in" in page
    assert login(client, "olga", "operator-pass").status_code == 429  # even the right password, for now
    r = login(client, "victor", "viewer-pass")  # same address, another user
    assert r.status_code == 302 and logged_in(client, viewer)
    client.logout()
    r = login(client, "olga", "operator-pass", address="10.9.9.9")  # same user, another address
    assert r.status_code == 302 and logged_in(client, operator)


def test_an_admin_still_unlocks_a_user_by_name(client, operator):
    from io import StringIO

    from django.core.management import call_command

    for _ in range(5):
        login(client, "olga", "wrong")
    assert login(client, "olga", "operator-pass").status_code == 429
    call_command("axes_reset_username", "olga", stdout=StringIO())
    assert login(client, "olga", "operator-pass").status_code == 302


# --- The access log -----------------------------------------------------------------------

def test_the_access_log_has_no_query_string_nor_reset_token(tmp_path):
    """The real server, started as bin/run starts it (bin/serve: gunicorn and its config)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(PANEL_BIND=f"127.0.0.1:{port}", PANEL_PASSWORD_RESET="0")
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen([str(ROOT / "bin/serve"), "-w", "1"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base + "/accounts/login/"), 60, 0.3, what="the server to answer")
        r = requests.get(base + "/accounts/login/?token=sekrit-query", timeout=10,
                         headers={"Referer": base + "/stacks/x/plan/?token=sekrit-referer"})
        assert r.status_code == 200
        assert requests.get(base + "/accounts/reset/MQ/sekrit-reset-token/", timeout=10).status_code == 404
        wait_until(lambda: "/accounts/reset/" in (tmp_path / "server.log").read_text(), 10, 0.2,
                   what="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=30)
        time.sleep(0.1)
    text = (tmp_path / "server.log").read_text()
    assert '"GET /accounts/login/ HTTP/1.1" 200' in text
    assert '"GET /accounts/reset/MQ/…/ HTTP/1.1" 404' in text
    assert "sekrit" not in text and "token=" not in text, text


def _answers(url):
    try:
        return requests.get(url, timeout=10).status_code == 200
    except requests.RequestException:  # not listening yet, or the worker still starting
        return False


def test_the_server_log_redacts_query_strings_and_reset_tokens_in_its_own_messages():
    import logging

    from controlpanel.logredact import RedactTokens, clean_path, clean_text

    assert clean_path("/stacks/x/plan/") == "/stacks/x/plan/"
    assert clean_path("/accounts/reset/MQ/abc-123/") == "/accounts/reset/MQ/…/"
    assert clean_path("/accounts/reset/MQ/set-password/") == "/accounts/reset/MQ/set-password/"
    assert clean_path("/stacks/reset/services/web/") == "/stacks/reset/services/web/"
    assert clean_text("Error handling request /x/plan/?token=abc") == "Error handling request /x/plan/?…"
    assert clean_text("Invalid request line: 'GET /?token=abc HTTP/1.1'") == "Invalid request line: 'GET /?… HTTP/1.1'"
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s",
                               ("/accounts/reset/MQ/abc-123/",), None)
    assert RedactTokens().filter(record) and record.getMessage() == "Not Found: /accounts/reset/MQ/…/"
