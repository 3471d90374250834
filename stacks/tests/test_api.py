"""The REST API under /api/v1/ with API tokens: who sees and does what, the
schema and the docs, the token command, and roles per stack on the pages."""
import pytest
from django.core.management import call_command
from django.test import override_settings

from stacks.accounts.access import visible_stacks
from stacks.models import ApiToken, AuditRecord, Stack, StackRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def stacks(db):
    return {slug: Stack.objects.create(slug=slug, name=slug.title()) for slug in ("app", "demo", "other")}


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_it_answers_401_without_a_token(client, stacks):
    response = client.get("/api/v1/stacks")
    assert response.status_code == 401
    assert "token" in response.json()["detail"]
    assert client.post("/api/v1/stacks/app/deploy").status_code == 401
    assert client.get("/api/v1/stacks", **bearer("pnl_nothing_here")).status_code == 401


def test_it_limits_an_operator_token_to_its_stacks(client, operator, stacks):
    token, secret = ApiToken.objects.issue(operator, "ci", write=True, stacks=[stacks["app"]])
    listed = client.get("/api/v1/stacks", **bearer(secret))
    assert listed.status_code == 200
    assert [s["slug"] for s in listed.json()] == ["app"]
    assert listed.json()[0]["role"] == "operator"
    assert client.get("/api/v1/stacks/demo", **bearer(secret)).status_code == 403
    refused = client.post("/api/v1/stacks/demo/deploy", **bearer(secret))
    assert refused.status_code == 403
    token.refresh_from_db()
    assert token.last_used is not None


def test_it_refuses_a_deploy_of_a_visible_stack_the_token_may_not_operate(client, stacks, django_user_model):
    user = django_user_model.objects.create_user("tess")
    StackRole.objects.create(user=user, stack=stacks["app"], role="operator")
    StackRole.objects.create(user=user, stack=stacks["demo"], role="viewer")
    _, secret = ApiToken.objects.issue(user, "ci", write=True)
    assert [s["slug"] for s in client.get("/api/v1/stacks", **bearer(secret)).json()] == ["app", "demo"]
    response = client.post("/api/v1/stacks/demo/deploy", **bearer(secret))
    assert response.status_code == 403
    assert "demo" in response.json()["detail"]


def test_it_refuses_every_write_of_a_viewer_token(client, viewer, stacks):
    _, secret = ApiToken.objects.issue(viewer, "look", write=True)
    assert len(client.get("/api/v1/stacks", **bearer(secret)).json()) == 3
    for url in ("/api/v1/stacks/app/deploy", "/api/v1/stacks/app/plan"):
        assert client.post(url, **bearer(secret)).status_code == 403


def test_it_refuses_writes_through_a_read_only_token_of_an_operator(client, operator, stacks):
    _, secret = ApiToken.objects.issue(operator, "ro")
    response = client.post("/api/v1/stacks/app/deploy", **bearer(secret))
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


def test_it_names_the_field_of_bad_input(client, operator, stacks):
    _, secret = ApiToken.objects.issue(operator, "ci", write=True)
    response = client.get("/api/v1/operations/0", **bearer(secret))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "id"
    response = client.get("/api/v1/alerts?status=burning", **bearer(secret))
    assert response.status_code == 422
    assert "status" in response.json()["detail"][0]["loc"]
    response = client.post("/api/v1/stacks/app/deploy?plan=not%20a%20plan", **bearer(secret))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "options", "plan"] or "plan" in str(response.json())


def test_it_serves_the_openapi_schema_and_docs_to_logged_in_users(client, operator, stacks):
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/api/v1/docs").status_code == 302
    client.force_login(operator)
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/stacks/{slug}/deploy" in schema["paths"]
    assert "/api/v1/operations/{id}/events" in schema["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_it_creates_a_token_from_the_command_line_printed_last(capsys, operator, stacks):
    call_command("token", "create", "olga", "--write", "--stack", "app")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.presented(secret)
    assert token.user == operator and token.write
    assert list(token.stacks.values_list("slug", flat=True)) == ["app"]
    assert token.digest != secret and secret not in token.digest
    call_command("token", "revoke", token.key)
    assert ApiToken.objects.presented(secret) is None


def test_it_creates_and_revokes_tokens_on_the_users_page(as_viewer, viewer, stacks):
    page = as_viewer.post("/account/api-tokens/", {"name": "laptop"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("pnl_") and secret.encode() in page.content
    token = ApiToken.objects.get(user=viewer)
    assert secret.encode() not in as_viewer.get("/account/api-tokens/").content
    as_viewer.post(f"/account/api-tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked is not None


def test_it_gives_roles_per_stack_with_adduser(stacks, capsys):
    call_command("adduser", "tom", "--role", "operator", "--stack", "app", "--stack", "demo")
    from django.contrib.auth.models import User
    tom = User.objects.get(username="tom")
    assert sorted(visible_stacks(tom).values_list("slug", flat=True)) == ["app", "demo"]
    assert tom.is_staff
    assert AuditRecord.objects.filter(action="add user", target="tom").exists()


def test_it_shows_only_the_stacks_a_team_may_see(client, stacks, django_user_model):
    from django.contrib.auth.models import Group
    team = Group.objects.create(name="team-a")
    StackRole.objects.create(group=team, stack=stacks["app"], role="viewer")
    member = django_user_model.objects.create_user("mia")
    member.groups.add(team)
    client.force_login(member)
    page = client.get("/")
    assert b'data-stack="app"' in page.content and b'data-stack="demo"' not in page.content
    assert client.get("/stacks/demo/").status_code == 404  # as if it did not exist
    assert client.get("/stacks/app/").status_code == 200
    assert client.post("/stacks/app/deploy/").status_code == 403
    assert b"demo" not in client.get("/alerts/").content


def test_it_tells_a_user_with_no_role_so(client, outsider, stacks):
    client.force_login(outsider)
    page = client.get("/")
    assert page.status_code == 200
    assert b"no role on any stack" in page.content
    assert client.get("/stacks/app/").status_code == 404
    assert client.get("/alerts/").status_code == 200


@override_settings(PANEL_OIDC_ROLE_MAP="ops=operator:app,demo;everyone=viewer:*")
def test_it_maps_sso_groups_to_roles(stacks, django_user_model):
    from stacks.accounts.oidc import apply_roles
    user = django_user_model.objects.create_user("sso-user")
    apply_roles(user, ["ops", "everyone", "unmapped"])
    assert user.groups.filter(name="viewers").exists() and user.is_staff
    assert set(StackRole.objects.filter(user=user, role="operator").values_list("stack__slug", flat=True)) == {
        "app", "demo"}
    apply_roles(user, ["everyone"])
    assert not StackRole.objects.filter(user=user).exists() and not user.is_staff


def test_it_rolls_back_through_the_api_and_refuses_what_cannot_be(client, operator, viewer, stacks, monkeypatch):
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", lambda pk: None)  # queued is the proof here
    from stacks.models import Deployment

    other = Deployment.objects.create(stack=stacks["demo"], status="succeeded")
    _, secret = ApiToken.objects.issue(operator, "ci", write=True)
    refused = client.post(f"/api/v1/stacks/app/rollback?to={other.pk}", **bearer(secret))
    assert refused.status_code == 400 and f"#{other.pk} is not a deployment of app" in refused.json()["detail"]
    assert client.post("/api/v1/stacks/app/rollback?to=zero", **bearer(secret)).status_code == 422
    _, read_only = ApiToken.objects.issue(viewer, "look")
    assert client.post(f"/api/v1/stacks/demo/rollback?to={other.pk}", **bearer(read_only)).status_code == 403
    assert not Deployment.objects.filter(stack=stacks["app"]).exists()

    from stacks import versions
    from stacks.models import StackVersion

    done = Deployment.objects.create(stack=stacks["app"], status="succeeded",
                                     version=versions.record(stacks["app"], StackVersion.CLI))
    accepted = client.post(f"/api/v1/stacks/app/rollback?to={done.pk}", **bearer(secret))
    assert accepted.status_code == 202, accepted.content
    queued = Deployment.objects.get(pk=accepted.json()["id"])
    assert (queued.action, queued.status, queued.rollback_of) == ("deploy", "queued", done.pk)
    assert AuditRecord.objects.filter(action="deploy", target="stack app", detail__contains="API token").exists()
