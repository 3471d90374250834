"""Stacks from Git: `stack import URL --git` over file:// and over HTTP (Debian's
git http-backend on 127.0.0.1, with a token), `stack sync`, `stack git`, the
push webhook signed as GitHub, Gitea/Forgejo and GitLab sign it (and forged
ones, which change nothing), failed syncs shown and deploying nothing, and the
definition read only in the admin."""
import hashlib
import hmac
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from controlpanel.celery import app
from stacks.models import GitSource, Secret, Stack, StackFile, StackVersion
from stacks.tests.git_server import HttpGit, Repo

pytestmark = pytest.mark.django_db

COMPOSE = """services:
  web:
    image: panel-local/busybox:latest
    command: ["sleep", "3600"]
    volumes: ["./conf/app.conf:/etc/app.conf:ro"]
"""
FILES = {"deploy/docker-compose.yml": COMPOSE, "deploy/conf/app.conf": "level = info\n", "README.md": "team\n"}


@pytest.fixture
def repo(tmp_path):
    r = Repo(tmp_path / "git")
    r.first = r.push(FILES, "first")
    return r


def stack_cmd(*args, env=None, monkeypatch=None):
    out, err = StringIO(), StringIO()
    call_command("stack", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def imported(repo, slug="gitapp", *extra):
    return stack_cmd("import", repo.url, "--git", "--name", slug, "--path", "deploy", *extra)


def test_it_imports_the_directory_at_the_path_as_stack_import_does(repo):
    out = imported(repo)
    assert f"from commit {repo.first[:12]} of main" in out
    stack = Stack.objects.get(slug="gitapp")
    assert stack.services.get().name == "web"
    assert StackFile.objects.get(stack=stack).content == "level = info\n"  # kept byte for byte
    source = stack.git
    assert (source.url, source.branch, source.path, source.applied) == (repo.url, "main", "deploy", repo.first)
    version = stack.versions.get()
    assert version.source == StackVersion.GIT and version.commit == repo.first
    lines = dict(line.split(": ", 1) for line in stack_cmd("git", "gitapp").splitlines())
    assert lines["repository"] == repo.url and lines["branch"] == "main" and lines["path"] == "deploy"
    assert lines["definition"] == repo.first and lines["deployed"] == "none yet"
    assert lines["policy"] == "plan only" and lines["webhook"].endswith("/webhooks/git/gitapp/")
    assert lines["secret"] == source.webhook_secret and len(source.webhook_secret) >= 40


def test_it_imports_over_http_with_a_token_kept_as_a_secret_and_never_shown(repo, monkeypatch, caplog):
    with HttpGit(repo.bare.parent, token="s3cr3t-token-value") as server:
        url = server.url("team.git")
        with pytest.raises(CommandError, match="refused the credentials"):
            imported_url(url, "nocreds")
        assert not Stack.objects.filter(slug="nocreds").exists()
        monkeypatch.setenv("TEAM_TOKEN", "s3cr3t-token-value")
        out = imported_url(url, "withtoken", "--token-env", "TEAM_TOKEN", "--username", "deploy")
        assert "s3cr3t" not in out and "s3cr3t" not in caplog.text
        stack = Stack.objects.get(slug="withtoken")
        assert stack.git.credential.value == "s3cr3t-token-value" and stack.git.credential.stack is None
        assert stack.git.credential_kind == "token"
        assert "s3cr3t" not in stack_cmd("git", "withtoken")
        # The token went as an Authorization header, never in the URL git was given.
        assert any(auth.startswith("Basic ") for _, auth in server.requests)
        assert all("s3cr3t" not in path for path, _ in server.requests)


def imported_url(url, slug, *extra):
    return stack_cmd("import", url, "--git", "--name", slug, "--path", "deploy", *extra)


def test_it_refuses_credentials_in_the_url_and_unknown_schemes(repo):
    with pytest.raises(CommandError, match="no credentials in the URL"):
        stack_cmd("import", "https://user:tok@127.0.0.1/x.git", "--git", "--name", "bad")
    with pytest.raises(CommandError, match="https://, ssh:// or file://"):
        stack_cmd("import", "ext::sh -c touch% /tmp/pwned", "--git", "--name", "bad")
    assert not Stack.objects.filter(slug="bad").exists()


def test_a_sync_makes_the_new_commit_the_definition_as_a_version(repo):
    imported(repo)
    out = stack_cmd("sync", "gitapp")
    assert f"commit {repo.first[:12]} is the definition already" in out
    second = repo.push({"deploy/conf/app.conf": "level = debug\n"}, "debug")
    out = stack_cmd("sync", "gitapp")
    assert f"commit {second[:12]} is the new definition" in out and f"commit {second[:7]} is ready" in out
    stack = Stack.objects.get(slug="gitapp")
    assert StackFile.objects.get(stack=stack).content == "level = debug\n"
    latest = stack.versions.order_by("-number").first()
    assert latest.source == StackVersion.GIT and latest.commit == second and latest.number == 2
    assert stack.git.applied == second == stack.git.last_seen


def test_a_sync_that_fails_is_recorded_shown_and_changes_nothing(repo, as_operator):
    imported(repo)
    bad = repo.push({"deploy/docker-compose.yml": "services:\n  web:\n    image: [not, a, string]\n"}, "broken")
    with pytest.raises(CommandError, match=f"failed at commit {bad[:12]}"):
        stack_cmd("sync", "gitapp")
    stack = Stack.objects.get(slug="gitapp")
    assert stack.services.get().image == "panel-local/busybox:latest" and stack.versions.count() == 1
    assert stack.git.applied == repo.first and stack.git.last_seen == bad and stack.git.last_error
    page = as_operator.get("/stacks/gitapp/").content.decode()
    assert f"Sync of commit <code>{bad[:7]}</code> failed, nothing was deployed" in page
    # A host option the stack has no consent for is refused the same way.
    host = repo.push({"deploy/docker-compose.yml": COMPOSE + "    privileged: true\n"}, "privileged")
    with pytest.raises(CommandError, match="an admin must approve it"):
        stack_cmd("sync", "gitapp")
    assert not Stack.objects.get(slug="gitapp").services.get().extra.get("privileged")
    assert GitSource.objects.get(stack__slug="gitapp").last_error_commit == host


def test_an_unreachable_repository_is_a_recorded_error(repo, tmp_path):
    imported(repo)
    GitSource.objects.filter(stack__slug="gitapp").update(url=f"file://{tmp_path}/gone.git")
    with pytest.raises(CommandError, match="unreachable"):
        stack_cmd("sync", "gitapp")
    assert "unreachable" in GitSource.objects.get(stack__slug="gitapp").last_error


def test_the_stack_page_says_a_commit_is_ready_to_deploy(repo, as_operator):
    imported(repo)
    page = as_operator.get("/stacks/gitapp/").content.decode()
    assert "branch <strong>main</strong>" in page and "plan only" in page
    assert f"commit <code title=\"{repo.first}\">{repo.first[:7]}</code> is ready" in page and ">Deploy</a>" in page


def test_the_admin_says_edit_it_in_git_and_saves_nothing(repo, admin_client):
    imported(repo)
    stack = Stack.objects.get(slug="gitapp")
    page = admin_client.get(f"/admin/stacks/stack/{stack.pk}/change/", follow=True).content.decode()
    assert "edit it in Git" in page
    service = stack.services.get()
    response = admin_client.post(f"/admin/stacks/service/{service.pk}/change/", {"name": "web", "image": "x"})
    assert response.status_code == 403
    assert Stack.objects.get(slug="gitapp").services.get().image == "panel-local/busybox:latest"
    with pytest.raises(CommandError, match="edit it in Git"):
        stack_cmd("restore", "gitapp", "--version", "1")


# --- The push webhook --------------------------------------------------------------

@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def push_body(ref="refs/heads/main"):
    return json.dumps({"ref": ref, "after": "0" * 40, "repository": {"clone_url": "ignored"}}).encode()


def signed(forge, body, secret):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"github": {"HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}", "HTTP_X_GITHUB_EVENT": "push"},
            "gitea": {"HTTP_X_GITEA_SIGNATURE": digest, "HTTP_X_GITEA_EVENT": "push"},
            "forgejo": {"HTTP_X_FORGEJO_SIGNATURE": digest, "HTTP_X_FORGEJO_EVENT": "push"},
            "gitlab": {"HTTP_X_GITLAB_TOKEN": secret, "HTTP_X_GITLAB_EVENT": "Push Hook"}}[forge]


@pytest.mark.parametrize("forge", ["github", "gitea", "forgejo", "gitlab"])
def test_a_signed_push_syncs_the_stack(repo, client, eager, forge, django_capture_on_commit_callbacks):
    imported(repo)
    secret = GitSource.objects.get(stack__slug="gitapp").webhook_secret
    second = repo.push({"deploy/conf/app.conf": "level = warn\n"}, "warn")
    body = push_body()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/webhooks/git/gitapp/", body, content_type="application/json",
                               **signed(forge, body, secret))
    assert response.status_code == 202, response.content
    stack = Stack.objects.get(slug="gitapp")
    assert stack.git.applied == second and StackFile.objects.get(stack=stack).content == "level = warn\n"


@pytest.mark.parametrize("headers,status", [
    ({}, 401),
    ({"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64}, 403),
    ({"HTTP_X_GITEA_SIGNATURE": "0" * 64}, 403),
    ({"HTTP_X_GITLAB_TOKEN": "guess"}, 403),
    ({"HTTP_X_HUB_SIGNATURE": "sha1=" + "0" * 40}, 401),  # GitHub's old SHA-1 header is not accepted
])
def test_a_forged_or_unsigned_push_changes_nothing(repo, client, eager, headers, status,
                                                   django_capture_on_commit_callbacks):
    imported(repo)
    before = GitSource.objects.values().get(stack__slug="gitapp")
    repo.push({"deploy/conf/app.conf": "level = error\n"}, "error")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/webhooks/git/gitapp/", push_body(), content_type="application/json", **headers)
    assert response.status_code == status and not callbacks
    assert GitSource.objects.values().get(stack__slug="gitapp") == before
    assert StackFile.objects.get(stack__slug="gitapp").content == "level = info\n"
    assert Stack.objects.get(slug="gitapp").versions.count() == 1


def test_a_push_signed_with_another_stacks_secret_or_to_an_unknown_stack_is_refused(repo, client):
    imported(repo)
    body = push_body()
    assert client.post("/webhooks/git/nosuch/", body, content_type="application/json",
                       **signed("github", body, "x")).status_code == 403
    assert client.post("/webhooks/git/gitapp/", body, content_type="application/json",
                       **signed("github", body, "another-secret")).status_code == 403


def test_the_webhook_answers_ping_skips_other_branches_and_limits_size(repo, client, settings,
                                                                     django_capture_on_commit_callbacks):
    imported(repo)
    secret = GitSource.objects.get(stack__slug="gitapp").webhook_secret
    body = b'{"zen": "hi"}'
    headers = {**signed("github", body, secret), "HTTP_X_GITHUB_EVENT": "ping"}
    assert client.post("/webhooks/git/gitapp/", body, content_type="application/json", **headers).status_code == 200
    other = push_body("refs/heads/feature")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/webhooks/git/gitapp/", other, content_type="application/json",
                               **signed("github", other, secret))
    assert response.status_code == 202 and "not main" in response.json()["ignored"] and not callbacks
    settings.GIT_WEBHOOK_MAX_BYTES = 100
    big = json.dumps({"ref": "refs/heads/main", "pad": "x" * 200}).encode()
    assert client.post("/webhooks/git/gitapp/", big, content_type="application/json",
                       **signed("github", big, secret)).status_code == 413
    assert client.get("/webhooks/git/gitapp/").status_code == 405


def test_the_poll_syncs_only_stacks_whose_interval_passed(repo, eager):
    from django.utils import timezone

    from stacks.tasks import poll_git

    imported(repo, "gitapp", "--poll", "60")
    second = repo.push({"deploy/conf/app.conf": "level = trace\n"}, "trace")
    poll_git()  # checked just now, at import: not due
    assert GitSource.objects.get(stack__slug="gitapp").applied == repo.first
    GitSource.objects.filter(stack__slug="gitapp").update(checked=timezone.now() - timezone.timedelta(seconds=61))
    poll_git()
    assert GitSource.objects.get(stack__slug="gitapp").applied == second


def test_rows_come_from_the_files_as_an_import_makes_them(tmp_path):
    """prometheus.yml and its rules become rows (or files) exactly as `stack import DIR` makes them."""
    from stacks.versions import snapshot

    repo = Repo(tmp_path / "g2")
    repo.push({
        "docker-compose.yml": "services:\n  prometheus:\n    image: panel-local/prometheus:latest\n    volumes:\n"
                              "      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\n"
                              "      - ./rules.yml:/etc/prometheus/rules.yml:ro\n",
        "prometheus.yml": "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nrule_files:\n- rules.yml\n"
                          "scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: [localhost:9090]\n",
        "rules.yml": "groups:\n- name: team\n  rules:\n  - alert: Up\n    expr: up == 0\n    for: 1m\n",
    })
    stack_cmd("import", repo.url, "--git", "--name", "promgit")
    stack_cmd("import", str(repo.work), "--name", "promdir")
    from_git, from_dir = (snapshot.take(Stack.objects.get(slug=s)) for s in ("promgit", "promdir"))
    for doc in (from_git, from_dir):
        doc["stack"].pop("name")
    assert from_git == from_dir and (from_git["scrape_jobs"] or from_git["files"])


def test_a_rollback_pins_the_stack_until_the_next_commit(repo):
    from stacks import versions

    imported(repo)
    second = repo.push({"deploy/conf/app.conf": "level = debug\n"}, "debug")
    stack_cmd("sync", "gitapp")
    stack = Stack.objects.get(slug="gitapp")
    versions.restore(stack, stack.versions.get(number=1), StackVersion.ROLLBACK, note="rollback to #1")
    stack_cmd("sync", "gitapp")  # no new commit: the rollback stays
    assert StackFile.objects.get(stack=stack).content == "level = info\n"
    out = stack_cmd("git", "gitapp")
    assert "pinned: v3 (rollback (rollback to #1)) until the next commit" in out and f"definition: {second}" in out
    third = repo.push({"deploy/conf/app.conf": "level = warn\n"}, "warn")
    stack_cmd("sync", "gitapp")
    assert StackFile.objects.get(stack=stack).content == "level = warn\n"
    assert "pinned" not in stack_cmd("git", "gitapp") and stack.versions.order_by("-number").first().commit == third


def test_an_ssh_deploy_key_goes_to_ssh_in_a_private_file_never_into_messages(repo, tmp_path):
    """No sshd is installed here: the key is offered to a port nothing listens
    on, and what comes back is git's "unreachable", without the key."""
    from stacks.tests.conftest import free_port

    key = tmp_path / "id_ed25519"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    url = f"ssh://git@127.0.0.1:{free_port()}/team.git"
    with pytest.raises(CommandError) as refused:
        stack_cmd("import", url, "--git", "--name", "viassh", "--ssh-key", str(key))
    assert "unreachable" in str(refused.value) or "Connection refused" in str(refused.value)
    assert key.read_text().splitlines()[1] not in str(refused.value)
    assert not Stack.objects.filter(slug="viassh").exists() and not Secret.objects.filter(name="git-viassh").exists()


# --- Attaching an existing stack to Git ----------------------------------------------

def in_place(repo, slug="teamapp"):
    """A stack imported in place from the team's working copy of the repository."""
    stack_cmd("import", str(repo.work / "deploy"), "--name", slug, "--in-place")
    return Stack.objects.get(slug=slug)


def test_attaching_a_stack_whose_rows_the_repository_holds_changes_nothing_but_records_the_commit(
        repo, admin_client, as_operator):
    from stacks.versions import snapshot

    stack = in_place(repo)
    before, directory = snapshot.take(stack), stack.directory
    out = stack_cmd("git-attach", "teamapp", repo.url, "--path", "deploy")
    assert f"from commit {repo.first[:12]}, which holds its definition as it is: nothing changed" in out
    stack = Stack.objects.get(slug="teamapp")
    assert snapshot.take(stack) == before and stack.directory == directory == (repo.work / "deploy").resolve()
    latest = stack.versions.order_by("-number").first()
    assert latest.source == StackVersion.GIT and latest.commit == repo.first and latest.number == 2
    lines = dict(line.split(": ", 1) for line in stack_cmd("git", "teamapp").splitlines())
    assert lines["repository"] == repo.url and lines["definition"] == repo.first and lines["path"] == "deploy"
    assert lines["policy"] == "plan only" and lines["webhook"].endswith("/webhooks/git/teamapp/")
    # From now on it follows Git like a stack imported from it: read only in the admin, synced on push.
    page = admin_client.get(f"/admin/stacks/stack/{stack.pk}/change/", follow=True).content.decode()
    assert "edit it in Git" in page
    service = stack.services.get()
    assert admin_client.post(f"/admin/stacks/service/{service.pk}/change/",
                             {"name": "web", "image": "x"}).status_code == 403
    second = repo.push({"deploy/conf/app.conf": "level = debug\n"}, "debug")
    assert f"commit {second[:12]} is the new definition" in stack_cmd("sync", "teamapp")
    assert StackFile.objects.get(stack=stack).content == "level = debug\n"


def test_attaching_a_stack_the_repository_differs_from_makes_that_the_first_sync_deploying_nothing(
        repo, as_operator):
    stack = in_place(repo)
    stack.services.filter(name="web").update(command=["sleep", "60"])  # edited here, not in Git
    out = stack_cmd("git-attach", "teamapp", repo.url, "--path", "deploy")
    assert f"commit {repo.first[:12]} is its new definition (1 row change(s))" in out
    assert "service web: command changed" in out and f"commit {repo.first[:7]} is ready" in out
    stack = Stack.objects.get(slug="teamapp")
    assert stack.services.get().command == ["sleep", "3600"]
    assert stack.git.applied == repo.first and stack.git.policy == GitSource.PLAN
    assert stack.versions.order_by("-number").first().commit == repo.first
    assert not stack.deployments.exists()  # plan only: shown, never deployed
    page = as_operator.get("/stacks/teamapp/").content.decode()
    assert f"commit <code title=\"{repo.first}\">{repo.first[:7]}</code> is ready" in page


def test_attaching_is_refused_clearly_and_changes_nothing(repo, monkeypatch):
    from stacks.versions import snapshot

    with pytest.raises(CommandError, match="nosuch"):
        stack_cmd("git-attach", "nosuch", repo.url)
    imported(repo)
    with pytest.raises(CommandError, match=f"gitapp follows {repo.url} \\(main\\) already"):
        stack_cmd("git-attach", "gitapp", repo.url, "--path", "deploy")
    stack = in_place(repo)
    before, versions = snapshot.take(stack), stack.versions.count()
    with pytest.raises(CommandError, match="no credentials in the URL"):
        stack_cmd("git-attach", "teamapp", "https://user:tok@127.0.0.1/team.git")
    with pytest.raises(CommandError, match="must stay inside the repository"):
        stack_cmd("git-attach", "teamapp", repo.url, "--path", "../..")
    repo.push({"deploy/docker-compose.yml": COMPOSE + "    privileged: true\n"}, "privileged")
    monkeypatch.setenv("TEAM_TOKEN", "s3cr3t-token-value")  # kept as a secret only when the attach is
    with pytest.raises(CommandError, match="cannot become teamapp's definition: .*an admin must approve it"):
        stack_cmd("git-attach", "teamapp", repo.url, "--path", "deploy", "--token-env", "TEAM_TOKEN")
    repo.push({"deploy/docker-compose.yml": "services:\n  web:\n    image: [not, a, string]\n"}, "broken")
    with pytest.raises(CommandError, match="cannot become teamapp's definition"):
        stack_cmd("git-attach", "teamapp", repo.url, "--path", "deploy")
    stack = Stack.objects.get(slug="teamapp")
    assert snapshot.take(stack) == before and stack.versions.count() == versions
    assert not GitSource.objects.filter(stack=stack).exists() and not Secret.objects.filter(name="git-teamapp").exists()
