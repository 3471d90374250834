"""Schema-driven fuzzing of /api/v1/ (schemathesis, from the OpenAPI schema the
API serves): whatever is sent, the answer is never a 5xx. Against the live
server, with a viewer's and an operator's read-write token; a bounded number
of examples per endpoint keeps it under a minute."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from stacks.api.urls import api
from stacks.models import ApiToken, Stack

pytestmark = pytest.mark.django_db(transaction=True)

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1"))


@pytest.fixture
def token(operator):
    Stack.objects.create(slug="app", name="App")
    _, secret = ApiToken.objects.issue(operator, "fuzz", write=False)
    return secret


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_it_never_answers_a_server_error(case, live_server, token):
    case.call_and_validate(base_url=live_server.url.replace("0.0.0.0", "127.0.0.1"),
                           headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])
