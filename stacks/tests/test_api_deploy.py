"""An operator's API token deploys a real stack (local images, a real Celery
worker and Docker) and follows it to `succeeded`, through the API only."""
import json

import pytest

from stacks.defaults.demo import mini_monitoring
from stacks.models import ApiToken, AuditRecord
from stacks.tests.conftest import free_port

pytestmark = [pytest.mark.docker, pytest.mark.celery, pytest.mark.postgres]


@pytest.fixture
def mini(project, transactional_db):
    return mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())


def test_it_deploys_and_follows_the_operation_through_the_api(mini, celery_worker, client, operator, docker_api):
    token, secret = ApiToken.objects.issue(operator, "ci-deploy", write=True, stacks=[mini])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    accepted = client.post(f"/api/v1/stacks/{mini.slug}/deploy", **auth)
    assert accepted.status_code == 202, accepted.content
    operation = accepted.json()["id"]

    stream = client.get(accepted.json()["events"], **auth)
    assert stream["Content-Type"] == "text/event-stream"
    events = [json.loads(line[len("data: "):]) for line in b"".join(stream.streaming_content).decode().splitlines()
              if line.startswith("data: ")]
    assert any("message" in e for e in events)
    assert events[-1]["status"] == "succeeded", events[-1]

    state = client.get(f"/api/v1/operations/{operation}", **auth).json()
    assert state["status"] == "succeeded" and state["steps"] and state["requested_by"] == "olga"
    detail = client.get(f"/api/v1/stacks/{mini.slug}", **auth).json()
    assert detail["operations"][0]["id"] == operation
    audited = AuditRecord.objects.get(action="deploy", target=f"stack {mini.slug}")
    assert audited.username == "olga" and f"through API token 'ci-deploy' {token.key}" in audited.detail
