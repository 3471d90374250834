"""Single sign-on end to end in Chromium, against a real OpenID Connect provider
(django-oauth-toolkit, stacks/tests/oidc_provider/) that the test starts on
127.0.0.1 with an RS256 key it generates: the login lands with the roles the
user's groups map to."""
import os
import subprocess
import sys

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from stacks.models import Stack, StackRole
from stacks.tests.conftest import ROOT, close_browser_pages, free_port, wait_until
from stacks.tests.test_browser import browser, shot  # noqa: F401 — the Chromium fixture

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def base_url(live_server, settings):
    settings.ALLOWED_HOSTS = ["*"]
    yield live_server.url.replace("0.0.0.0", "127.0.0.1")
    close_browser_pages()


@pytest.fixture
def provider(tmp_path, base_url):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stacks.tests.oidc_provider.settings",
           "OIDC_RSA_PRIVATE_KEY": key, "OIDC_DB": str(tmp_path / "provider.sqlite3"), "ALICE_GROUPS": "ops,everyone"}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "stacks.tests.oidc_provider.setup", base_url + "/oidc/callback/"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}/o"

    def up():
        try:
            return requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(up, 30, 0.3, what="the OIDC provider")
    yield {"issuer": issuer, "client_id": out[-2], "secret": out[-1]}
    server.terminate()
    server.wait(10)


def test_it_logs_in_through_the_provider_with_the_mapped_roles(browser, base_url, provider, settings):  # noqa: F811
    for slug in ("app", "demo", "other"):
        Stack.objects.create(slug=slug, name=slug.title())
    settings.PANEL_OIDC_ISSUER = provider["issuer"]
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = provider["client_id"], provider["secret"]
    settings.PANEL_OIDC_ROLE_MAP = "ops=operator:app;everyone=viewer:demo"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "stacks.accounts.oidc.PanelOIDCBackend"]

    page = browser.new_page()
    page.set_default_timeout(20000)
    page.goto(base_url + "/")
    page.click("#sso")
    page.wait_for_url(provider["issuer"].rsplit("/o", 1)[0] + "/accounts/login/**")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")
    shot(page, "oidc-login")
    rows = page.locator("#stacks tr[data-stack]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.stack)")) == ["app", "demo"]
    assert "alice" in page.inner_text("header")
    roles = dict(StackRole.objects.filter(user__username="alice").values_list("stack__slug", "role"))
    assert roles == {"app": "operator", "demo": "viewer"}
    page.close()
