"""Registries as rows and the registry seam: references, version tags and
windows (pure); `registry add|list|remove` and the admin keep the password a
secret; the seam honours 429/Retry-After and basic auth (against a small HTTP
server of the test's own: docker-registry never answers 429, so that one answer
is played by a stand-in and the test says so), and asks a registry a few tags at
a time (a slow stand-in, to see the requests in flight); the pages' update pills
and the Apply updates button (operators only); beat's apply policy and window."""
import threading
import time
from datetime import datetime
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils.timezone import make_aware, now

from stacks.lib import imageref
from stacks.lib.update_window import contains
from stacks.models import AuditRecord, Deployment, ImageCheck, Registry, Service, Stack
from stacks.monitoring import updates
from stacks.seams.registry import Registry as RegistryClient
from stacks.seams.registry import RegistryError
from stacks.tasks import check_image_updates


def test_it_reads_references_as_docker_does():
    assert imageref.parse("nginx") == imageref.ImageRef("docker.io", "library/nginx", "latest", "")
    assert imageref.parse("team/app:1") == imageref.ImageRef("docker.io", "team/app", "1", "")
    ref = imageref.parse("127.0.0.1:5000/team/app:1.2")
    assert (ref.registry, ref.repository, ref.tag, ref.name) == ("127.0.0.1:5000", "team/app", "1.2",
                                                                 "127.0.0.1:5000/team/app")
    pinned = imageref.parse("localhost/x@sha256:abc")
    assert (pinned.registry, pinned.repository, pinned.tag, pinned.digest) == ("localhost", "x", "", "sha256:abc")
    assert ref.with_digest("sha256:1") == "127.0.0.1:5000/team/app@sha256:1"
    assert imageref.registry_host("https://registry-1.docker.io/") == "docker.io"


def test_it_lists_newer_version_tags_within_a_policy():
    tags = ["1.2.3", "1.2.4", "1.2.10", "1.3.0", "2.0.0", "v1.2.5", "1.2", "latest", "1.2.4-rc1"]
    assert imageref.newer_tags("1.2.3", tags, "patch") == ["1.2.10", "1.2.4"]
    assert imageref.newer_tags("1.2.3", tags, "minor") == ["1.3.0", "1.2.10", "1.2.4"]
    assert imageref.newer_tags("1.2.3", tags, "any") == ["2.0.0", "1.3.0", "1.2.10", "1.2.4"]
    assert imageref.newer_tags("latest", tags, "any") == []
    assert imageref.newer_tags("1.2", ["1.3", "1.2.9"], "minor") == ["1.3"]  # written the same way


def test_an_update_window_may_pass_midnight():
    assert contains("", dtime(3, 0))
    assert contains("02:00-04:00", dtime(3, 59)) and not contains("02:00-04:00", dtime(4, 0))
    assert contains("22:00-02:00", dtime(23, 30)) and contains("22:00-02:00", dtime(1, 0))
    assert not contains("22:00-02:00", dtime(12, 0))
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        contains("2am-4am", dtime(3, 0))


@pytest.mark.django_db
def test_registry_add_keeps_the_password_a_secret(caplog):
    out = StringIO()
    call_command("registry", "add", "team", "https://reg.example:5000", "--username", "bot", "--password-stdin",
                 stdin=StringIO("hunter2-secret\n"), stdout=out)
    row = Registry.objects.get(name="team")
    assert (row.host, row.username, row.password) == ("reg.example:5000", "bot", "hunter2-secret")
    listed = StringIO()
    call_command("registry", "list", stdout=listed)
    for text in (out.getvalue(), listed.getvalue(), caplog.text,
                 " ".join(AuditRecord.objects.values_list("detail", flat=True))):
        assert "hunter2-secret" not in text
    assert "user bot" in listed.getvalue()
    assert Registry.auth_for(["reg.example:5000/team/app:1", "nginx"]) == {
        "reg.example:5000": {"username": "bot", "password": "hunter2-secret", "serveraddress": "reg.example:5000",
                             "ca_pem": ""}}
    # The same name again replaces the login; a password as an argument is refused.
    call_command("registry", "add", "team", "https://reg.example:5000", "--username", "bot2", "--password-stdin",
                 stdin=StringIO("other\n"), stdout=StringIO())
    assert Registry.objects.get(name="team").username == "bot2"
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("registry", "add", "x", "https://other.example", "--username", "u", stdout=StringIO())
    with pytest.raises(CommandError, match="already holds reg.example:5000"):
        call_command("registry", "add", "dup", "reg.example:5000", stdout=StringIO())
    call_command("registry", "remove", "team", stdout=StringIO())
    assert not Registry.objects.exists()


@pytest.mark.django_db
def test_the_admin_never_shows_a_registry_password(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass")
    client.force_login(admin)
    resp = client.post("/admin/stacks/registry/add/", {"name": "team", "url": "https://reg.example",
                                                        "username": "bot", "new_password": "s3cret-value"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    row = Registry.objects.get(name="team")
    assert row.password == "s3cret-value"
    page = client.get(f"/admin/stacks/registry/{row.pk}/change/").content.decode()
    assert "s3cret-value" not in page and "Leave empty to keep" in page
    client.post(f"/admin/stacks/registry/{row.pk}/change/", {"name": "team", "url": "https://reg.example",
                                                             "username": "bot", "new_password": ""})
    assert Registry.objects.get(name="team").password == "s3cret-value"  # kept


class _Limited(BaseHTTPRequestHandler):
    """A stand-in registry (docker-registry never answers 429): basic auth, then a
    429 with Retry-After on the first manifest HEAD, then the digest."""
    hits = []

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.hits.append((self.path, self.headers.get("Authorization", "")))
        if not self.headers.get("Authorization"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        elif sum(1 for p, a in self.hits if a) == 1:
            self.send_response(429)
            self.send_header("Retry-After", "1")
        else:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "a" * 64)
        self.end_headers()


@pytest.fixture
def limited_registry():
    _Limited.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Limited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_seam_logs_in_and_waits_out_a_429(limited_registry):
    client = RegistryClient(limited_registry, "bot", "pw", scheme="http")
    started = time.monotonic()
    assert client.digest("team/app", "1") == "sha256:" + "a" * 64
    assert time.monotonic() - started >= 1  # Retry-After: 1
    assert [bool(a) for _, a in _Limited.hits] == [False, True, True]
    assert client.requests == 3
    with pytest.raises(RegistryError, match="asks for a login") as refused:
        RegistryClient(limited_registry, scheme="http").digest("team/app", "1")
    assert refused.value.permanent


def test_the_seam_says_when_a_registry_does_not_answer():
    with pytest.raises(RegistryError, match="did not answer") as exc:
        RegistryClient("127.0.0.1:9", scheme="http", timeout=1).digest("x/y", "1")
    assert not exc.value.permanent


@pytest.fixture
def stack_with_update(db):
    stack = Stack.objects.create(slug="upd", name="upd")
    ref = "reg.example/team/app:1"
    for name in ("web", "db"):
        Service.objects.create(stack=stack, name=name, image=ref if name == "web" else "postgres:16")
    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    Deployment.objects.create(stack=stack, action="deploy", status=Deployment.SUCCEEDED, images={
        "web": {"image": ref, "id": "sha256:x", "digest": f"reg.example/team/app@{old}"},
        "db": {"image": "postgres:16", "id": "sha256:y", "digest": "postgres@" + "sha256:" + "3" * 64}})
    ImageCheck.objects.create(reference=ref, digest=new, checked=now())
    ImageCheck.objects.create(reference="postgres:16", digest="sha256:" + "3" * 64, checked=now())
    return stack


def test_the_pages_show_an_update_and_only_operators_apply_it(stack_with_update, as_viewer):
    page = as_viewer.get("/stacks/upd/").content.decode()
    assert page.count('class="pill warn update"') == 1 and 'id="apply-updates"' not in page
    assert "update available" in as_viewer.get("/").content.decode()
    assert as_viewer.post("/stacks/upd/deploy/", {"update": "1"}).status_code == 403
    assert updates.pins(stack_with_update) == {"web": "reg.example/team/app@sha256:" + "2" * 64}
    with pytest.raises(ValueError, match="No update to apply for db"):
        updates.pins(stack_with_update, ["db"])


def test_an_operator_applies_updates_as_a_deploy_with_the_new_digests(stack_with_update, as_operator,
                                                                      monkeypatch):
    started = []
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", started.append)
    assert 'id="apply-updates"' in as_operator.get("/stacks/upd/").content.decode()
    resp = as_operator.post("/stacks/upd/deploy/", {"update": "1"})
    assert resp.status_code == 302
    queued = Deployment.objects.filter(status=Deployment.QUEUED).get()
    assert queued.options["update"] == {"web": "reg.example/team/app@sha256:" + "2" * 64}


def test_beat_applies_updates_only_for_the_apply_policy_inside_its_window(stack_with_update, monkeypatch):
    started = []
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", started.append)
    monkeypatch.setattr(updates, "check", lambda stacks=None: {})  # the registries are asked elsewhere
    check_image_updates()
    assert not started  # policy "tell"
    Service.objects.filter(stack=stack_with_update, name="web").update(update_policy="apply",
                                                                         update_window="00:00-00:01")
    assert updates.due(now=make_aware(datetime(2026, 1, 1, 12, 0))) == []
    assert updates.due(now=make_aware(datetime(2026, 1, 1, 0, 0, 30)))[0][1] == updates.pins(stack_with_update)
    Service.objects.filter(stack=stack_with_update, name="web").update(update_window="")
    check_image_updates()
    assert len(started) == 1
    check_image_updates()  # the same update is not tried twice
    assert len(started) == 1


class _Slow(BaseHTTPRequestHandler):
    """A stand-in that answers each manifest HEAD after 50 ms and counts how many
    are in flight at once (the real registry answers too fast to see it)."""
    lock, now, most = threading.Lock(), 0, 0

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        with self.lock:
            type(self).now += 1
            type(self).most = max(type(self).most, type(self).now)
        time.sleep(0.05)
        with self.lock:
            type(self).now -= 1
        self.send_response(200)
        self.send_header("Docker-Content-Digest", "sha256:" + "b" * 64)
        self.end_headers()


def test_the_check_asks_a_registry_a_few_tags_at_a_time():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        refs = {f"{host}/team/app:t{n}": False for n in range(24)}
        answers = updates.ask(refs, {host: RegistryClient(host, scheme="http", pool=4)}, limit=4)
    finally:
        server.shutdown()
    assert {a[0] for a in answers.values()} == {"sha256:" + "b" * 64}
    assert 1 < _Slow.most <= 4


def test_stack_updates_lists_and_applies_from_the_command_line(stack_with_update, monkeypatch):
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", lambda pk: None)
    out = StringIO()
    call_command("stack", "updates", "upd", stdout=out)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert "update available" in lines["web"] and "up to date" in lines["db"]
    with pytest.raises(CommandError, match="No update to apply for db"):
        call_command("stack", "updates", "upd", "--apply", "db", stdout=StringIO())
    call_command("stack", "updates", "upd", "--apply", stdout=StringIO())
    queued = Deployment.objects.get(status=Deployment.QUEUED)
    assert queued.options == {"update": {"web": "reg.example/team/app@sha256:" + "2" * 64}}
