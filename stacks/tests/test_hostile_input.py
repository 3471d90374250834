"""Hostile input gets a clear 4xx, never a 500, never minutes of CPU: YAML nested
deep or megabytes of flow YAML on the import page, bodies larger than their
limit (refused before they are read, on a real gunicorn), file paths naming the
stack's directory, a locked or absent database (503 with Retry-After on every
page), and the webhook's chunked bodies and content types."""
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from stacks.lib.safe_paths import UnsafePath, write_bundle
from stacks.lib.yamlsafe import YAMLRefused, key_lines, load_yaml
from stacks.models import Alert, Stack, StackFile
from stacks.tests.conftest import ROOT, database_url, free_port, wait_until
from stacks.tests.test_webhook import TOKEN, alert, payload, post

DEEP_BLOCK = "services:\n  web:\n    image: x\n    labels:\n" + "".join(
    " " * (6 + 2 * i) + f"k{i}:\n" for i in range(500)) + " " * 1006 + "v: 1\n"  # 500 deep, 260 kB
DEEP_FLOW = "services: " + "[" * 1000 + "]" * 1000 + "\n"
FLOW_2MB = "services: {web: {image: x, labels: [" + ",".join(f"{{a{i}: [1,2,{i}]}}" for i in range(110000)) + "]}}\n"
FLOW_1MB = "x: [" + ",".join(f"{{a{i}: [1,{i}]}}" for i in range(50000)) + "]\n"


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)


# --- YAML ---------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("text, said", [
    (DEEP_BLOCK, "nested more than 64 deep"),
    (DEEP_FLOW, "nesting depth"),
    (FLOW_2MB, "over the limit of 1000000 bytes"),
])
def test_the_import_page_refuses_deep_and_huge_yaml_quickly_with_a_message(client, operator, text, said):
    client.force_login(operator)
    started = time.monotonic()
    r = client.post("/stacks/import/", {"slug": "hostile", "compose": text})
    assert time.monotonic() - started < 10  # about a second here (30 s before, and a 500), on a shared CPU
    assert r.status_code < 500
    assert said in r.content.decode()
    assert not Stack.objects.filter(slug="hostile").exists()


def test_a_megabyte_of_flow_yaml_is_read_or_refused_within_seconds():
    assert len(FLOW_1MB) < 1_000_000
    started = time.monotonic()
    with pytest.raises(YAMLRefused, match="more than 100000 values"):
        load_yaml(FLOW_1MB)
    assert time.monotonic() - started < 5


def test_line_numbers_come_from_the_bounded_parse_that_read_the_text():
    text = "services:\n  web:\n    image: x\n\n  db:\n    image: y\n"
    assert load_yaml(text)["services"]["db"] == {"image": "y"}
    assert key_lines(text)[("services", "db")] == 5
    assert key_lines(DEEP_BLOCK) == {}  # refused: no numbers from a second parse either


def test_aliases_merge_keys_and_tags_read_as_pyyaml_reads_them():
    import yaml

    text = "a: &x [1, {b: &y 2}]\nc: *x\nd: *y\ne: !!str 5\nf: {<<: {g: 1}, h: 2}\nt: 2026-01-02\nn: ~\n"
    assert load_yaml(text) == yaml.safe_load(text)
    with pytest.raises(YAMLRefused, match="second YAML document"):
        load_yaml("a: 1\n---\nb: 2\n")
    with pytest.raises(YAMLRefused, match="undefined alias"):
        load_yaml("a: *nope\n")


# --- paths --------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("path", [".", "./.", "", "conf/"])
def test_paths_naming_the_stack_directory_are_refused_with_a_message(path, tmp_path):
    stack = Stack.objects.create(slug="paths", name="paths")
    with pytest.raises(ValidationError) as refused:
        StackFile(stack=stack, path=path, content="x").full_clean()
    assert "path" in refused.value.message_dict
    assert "directory" in " ".join(refused.value.message_dict["path"]) or "empty" in str(refused.value)
    with pytest.raises(UnsafePath):
        write_bundle(tmp_path / "paths", {path: "x"})


# --- body size, before the body is read ---------------------------------------------------

@pytest.mark.django_db
def test_an_anonymous_upload_is_refused_by_its_declared_size(client):
    r = client.post("/stacks/import/", {"slug": "x", "compose": "a" * (django_settings.PANEL_ANONYMOUS_MAX_REQUEST_BYTES + 1)})
    assert r.status_code == 413
    r = client.post("/accounts/login/", {"username": "a", "password": "b"})
    assert r.status_code == 200  # a login form is well inside the anonymous limit


@pytest.mark.django_db
def test_a_logged_in_operator_may_send_an_archive_but_not_more(client, operator):
    client.force_login(operator)
    r = client.post("/stacks/import/", {"slug": "x", "compose": "a" * 100_000})
    assert r.status_code == 200
    r = client.post("/stacks/import/", {"slug": "x"}, CONTENT_LENGTH=str(django_settings.PANEL_MAX_REQUEST_BYTES + 1))
    assert r.status_code == 413


def _shared_database():
    if connection.vendor == "sqlite":
        pytest.skip("the server process needs the test database: SQLite's is in this process's memory "
                    "(the PostgreSQL run has it)")


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    """The panel's real web server (as bin/run starts it) on a free port, against
    the test database: what Django's test client cannot show (bodies not read,
    chunked transfer)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "STACKS_DIR": str(settings.STACKS_DIR),
           "PANEL_WEBHOOK_TOKEN": TOKEN, "WEBHOOK_MAX_BYTES": "200000", "AXES_ENABLED": "0"}
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "controlpanel.wsgi", "-b", f"127.0.0.1:{port}",
                             "-w", "1", "--timeout", "60"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(up, 30, 0.2, what="gunicorn listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def _raw(port, head, body=b"", timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        return s.recv(65536).decode(errors="replace")


def test_an_anonymous_300_mb_post_is_answered_413_before_its_body_is_sent(gunicorn):
    started = time.monotonic()
    answer = _raw(gunicorn, "POST /stacks/import/ HTTP/1.1\nHost: 127.0.0.1\nContent-Type: multipart/form-data; "
                            f"boundary=b\nContent-Length: {300 * 1024 * 1024}\n", b"--b\r\n")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5  # the 300 MB were never waited for


@pytest.mark.postgres
def test_a_webhook_body_sent_chunked_is_stored(gunicorn):
    _shared_database()
    body = json.dumps(payload(alert(fingerprint="c4c4c4c4c4c4c4c4"))).encode()
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=20)
    conn.putrequest("POST", "/webhooks/alertmanager/")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(body), 100):
        piece = body[i:i + 100]
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 200, r.read()
    assert json.loads(r.read())["stored"] == 1
    assert Alert.objects.filter(fingerprint="c4c4c4c4c4c4c4c4").exists()


@pytest.mark.postgres
def test_a_chunked_webhook_body_past_the_limit_is_a_413(gunicorn):
    _shared_database()
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=20)
    conn.putrequest("POST", "/webhooks/alertmanager/")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    piece = b" " * 65536
    try:
        for _ in range(5):  # 320 kB against WEBHOOK_MAX_BYTES=200000
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the rest is sent
    r = conn.getresponse()
    assert r.status == 413
    assert not Alert.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type, data", [
    ("text/plain", json.dumps(payload(alert()))),
    ("application/x-www-form-urlencoded", "a=1&b=2"),
    ("multipart/form-data; boundary=b", "--b--\r\n"),
])
def test_the_webhook_answers_415_to_what_is_not_json(client, content_type, data):
    r = client.post("/webhooks/alertmanager/", data=data, content_type=content_type,
                    HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    assert not Alert.objects.exists()
    assert post(client, payload(alert())).status_code == 200  # the same with its type: stored


# --- the database locked or down ---------------------------------------------------------

def _quiet_client(user=None):
    c = Client(raise_request_exception=False)  # as a browser sees it: the handler's answer, not the exception
    if user is not None:
        c.force_login(user)
    return c


@pytest.mark.django_db(transaction=True)
def test_every_page_answers_503_with_retry_after_when_sqlite_is_locked(viewer, caplog):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's lock: the PostgreSQL run has the outage test below")
    c = _quiet_client(viewer)
    name = connection.settings_dict["NAME"]
    uri = name.startswith("file:")
    other = sqlite3.connect(name, uri=uri, timeout=0.1, isolation_level=None)
    connection.close()
    old = connection.settings_dict["OPTIONS"].get("timeout")
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    try:
        other.execute("BEGIN EXCLUSIVE")
        other.execute("UPDATE django_session SET expire_date = expire_date")
        for url in ("/", "/alerts/", "/stacks/none/charts.json"):
            r = c.get(url)
            assert r.status_code == 503, (url, r.status_code)
            assert r["Retry-After"] == "5"
            assert b"database" in r.content
    finally:
        other.execute("ROLLBACK")
        other.close()
        connection.close()
        connection.settings_dict["OPTIONS"]["timeout"] = old
    assert "Database locked while serving GET /" in caplog.text
    assert c.get("/").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_page_answers_503_with_retry_after_when_the_database_is_down(viewer, caplog):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's test database lives in memory and cannot go away: the lock test covers SQLite")
    c = _quiet_client(viewer)
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())  # nothing listens there: the server is down
    try:
        for url, kind in (("/", "text/html"), ("/alerts/1/graph.json", "application/json")):
            r = c.get(url)
            assert r.status_code == 503 and r["Retry-After"] == "5" and r["Content-Type"].startswith(kind)
        r = _quiet_client().post("/accounts/login/", {"username": "a", "password": "b"})
        assert r.status_code == 503
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert "Database unavailable while serving GET /" in caplog.text
    assert c.get("/").status_code == 200
