"""The role wall, swept: every form that changes something (each POST route of
stacks/urls.py, with real objects behind its parameters) is sent by a viewer and
by a logged-in user with no role at all. Each is refused (403, or 404 where the
stack is not theirs to see, or 405), nothing is queued, recorded, acknowledged
or revoked, and no answer is a 5xx. A route added without a check shows up here:
the sweep fails on any POST route of urls.py it does not list."""
import pytest
from django.urls import get_resolver
from django.utils import timezone

from stacks import versions
from stacks.models import (
    Alert,
    ApiToken,
    AuditRecord,
    Deployment,
    Stack,
    StackVersion,
)
from stacks.operations.verbs import VERBS

pytestmark = pytest.mark.django_db

# Routes nobody logs in for (their own authentication, tested on their own) and
# the single sign-on hand-off.
OWN_AUTHENTICATION = {"alertmanager-webhook", "git-webhook", "metrics", "oidc_authentication_init",
                      "oidc_authentication_callback"}
# Pages that only read, whatever the method (their POST is refused or means a read).
READ_ONLY = {"overview", "overview-strips", "stack-charts", "alert-graph", "stack-detail", "stack-timeline",
             "version-detail", "stack-routes", "service-logs", "deployment-detail", "alert-list", "alert-detail",
             "live"}


def state():
    return (Deployment.objects.count(), StackVersion.objects.count(), Stack.objects.count(),
            AuditRecord.objects.count(), Alert.objects.filter(acknowledged_at__isnull=False).count(),
            ApiToken.objects.filter(revoked__isnull=False).count())


@pytest.fixture
def targets(defaults, operator):
    stack = Stack.objects.get(slug="app")
    versions.record(stack, StackVersion.CLI, note="sweep")
    deployment = Deployment.objects.create(stack=stack, action="deploy", status=Deployment.SUCCEEDED)
    alert = Alert.objects.create(fingerprint="wall", starts_at=timezone.now(), status="firing", name="TargetDown",
                                 stack=stack, labels={"alertname": "TargetDown", "stack": "app"})
    token, _secret = ApiToken.objects.issue(operator, "ci", write=True)
    service = stack.services.first().name
    forms = {
        "api-tokens": ("/account/api-tokens/", {"name": "mine", "write": "on"}),
        "api-token-revoke": (f"/account/api-tokens/{token.pk}/revoke/", {}),
        "stack-import": ("/stacks/import/", {"name": "wall", "compose": "services:\n  web:\n    image: nginx\n"}),
        "stack-adopt": ("/stacks/adopt/", {"project": "t0000000"}),
        "stack-plan": ("/stacks/app/plan/", {}),
        "version-restore": ("/stacks/app/versions/1/restore/", {}),
        "stack-delete": ("/stacks/app/delete/", {"confirm": "app"}),
        "stack-edit": ("/stacks/app/edit/", {"text": "services:\n  web:\n    image: nginx\n"}),
        "alert-silence": (f"/alerts/{alert.pk}/silence/", {"hours": "1", "comment": "x"}),
        "silence-expire": (f"/alerts/{alert.pk}/silences/abc/expire/", {}),
        "alert-acknowledge": (f"/alerts/{alert.pk}/acknowledge/", {"reason": "mine"}),
    }
    actions = [(f"stack-action {verb}", f"/stacks/app/{verb}/",
                {"service": service, "rollback_to": str(deployment.pk)}) for verb in VERBS]
    return forms, actions


def test_the_sweep_knows_every_route():
    names = {p.name for p in get_resolver().url_patterns if getattr(p, "name", None)}
    listed = OWN_AUTHENTICATION | READ_ONLY | {
        "api-tokens", "api-token-revoke", "stack-import", "stack-adopt", "stack-plan", "version-restore",
        "stack-delete", "stack-edit", "alert-silence", "silence-expire", "alert-acknowledge", "stack-action"}
    assert names - listed == set(), "a new route: add it to the role-wall sweep"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_no_form_changes_anything_for_a_viewer_or_a_user_without_a_role(client, targets, who, request):
    forms, actions = targets
    client.force_login(request.getfixturevalue(who))
    before = state()
    answers = {}
    for name, url, data in [(name, url, data) for name, (url, data) in forms.items()] + actions:
        answers[name] = client.post(url, data).status_code
    if who == "viewer":
        # A viewer may name its own tokens: the token page is every user's own.
        assert answers.pop("api-tokens") in (200, 302)
        allowed = {403, 405}
    else:
        answers.pop("api-tokens")
        allowed = {403, 404, 405}
    assert answers["api-token-revoke"] == 404  # another user's token is not even found
    wrong = {name: code for name, code in answers.items() if code not in allowed | {404}}
    assert wrong == {}, f"{who} got through: {wrong}"
    after = state()
    # Only the viewer's own new API token may have been recorded (audited).
    assert after[:3] == before[:3] and after[4:] == before[4:], (before, after)
    assert Deployment.objects.filter(status="queued").count() == 0
