"""What a first walk through the panel tripped over: a 403 inside the layout, a
favicon, plurals, one time format with its zone, log lines without Docker's
timestamp, a tail size, and an unhealthy container's health-check output."""
import pytest

from stacks.engine.operations import stack_status
from stacks.models import Deployment, Service, Stack
from stacks.operations.execute import execute
from stacks.tests.conftest import wait_until
from stacks.views.logs import split_line

pytestmark = pytest.mark.django_db


def test_a_viewer_gets_a_403_page_inside_the_layout(as_viewer, defaults):
    r = as_viewer.post("/stacks/app/deploy/")
    html = r.content.decode()
    assert r.status_code == 403
    assert "Operators of this stack only." in html and "<nav>" in html and "Back to the overview" in html


def test_a_refusal_is_logged_in_one_line_without_a_traceback(as_viewer, defaults, caplog):
    caplog.set_level("WARNING", logger="django.request")
    assert as_viewer.post("/stacks/app/deploy/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /stacks/app/deploy/"
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_a_missing_page_is_said_inside_the_layout(as_viewer, defaults):
    r = as_viewer.get("/stacks/no-such-stack/")
    html = r.content.decode()
    assert r.status_code == 404
    assert "Nothing is at <code>/stacks/no-such-stack/</code>" in html and "<nav>" in html


def test_the_favicon_is_served_to_anyone(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r["Location"].endswith("favicon.svg")


def test_times_carry_their_zone(as_viewer, defaults):
    d = Deployment.objects.create(stack=Stack.objects.get(slug="app"), status="succeeded")
    d.log("Pulled")
    html = as_viewer.get(f"/deployments/{d.pk}/").content.decode()
    assert f'data-moment="short">{d.steps.get().at:%H:%M:%S} UTC</time>' in html
    assert f'{d.created:%Y-%m-%d %H:%M:%S} UTC</time>' in html


def test_the_alerts_page_has_one_firing_counter(as_viewer):
    assert as_viewer.get("/alerts/").content.decode().count('id="nav-firing"') == 1


def test_log_lines_lose_dockers_timestamp_and_keep_a_replicas_name():
    assert split_line("2026-12-04T17:52:10.123456789Z ts=x msg=ready") == {
        "at": "2026-12-04T17:52:10.123456789Z", "text": "ts=x msg=ready"}
    assert split_line("web-2 | 2026-12-04T17:52:10Z hello")["text"] == "web-2 | hello"
    assert split_line("(no output yet)") == {"at": "", "text": "(no output yet)"}


def test_the_log_page_offers_a_tail_size_and_a_search(as_viewer, defaults):
    html = as_viewer.get("/stacks/app/services/web/logs/?tail=1000").content.decode()
    assert '<option value="1000" selected>' in html and 'id="log-search"' in html


@pytest.mark.docker
def test_an_unhealthy_container_shows_its_health_check_output(project, docker_api):
    stack = Stack.objects.create(slug=project, name=project)
    Service.objects.create(stack=stack, name="sick", image="panel-local/busybox:latest", command=["sleep", "600"],
                           healthcheck={"test": ["CMD", "sh", "-c", "echo database not reachable; exit 1"],
                                        "interval": "1s", "timeout": "1s", "retries": 1})
    d = Deployment.objects.create(stack=stack)
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    row = wait_until(lambda: next((r for r in stack_status(project) if r["health"] == "unhealthy"), None), 30,
                     what="the container unhealthy")
    assert row["health_output"] == "database not reachable"


@pytest.mark.docker
def test_health_check_output_that_quotes_a_secret_is_masked_on_the_stack_page(project, docker_api, client, operator):
    """A health check that prints its connection string (with the password) shows
    on the stack page with the password hidden, as log lines are."""
    from stacks.models import Secret
    from stacks.monitoring.health import poll_stack

    stack = Stack.objects.create(slug=project, name=project)
    Secret.objects.create(name="db_password", value="hunter2-Zq81", stack=stack)
    Service.objects.create(stack=stack, name="sick", image="panel-local/busybox:latest", command=["sleep", "600"],
                           environment={"DB_URL": "postgres://app:${secret:db_password}@db/app"},
                           healthcheck={"test": ["CMD", "sh", "-c", "echo cannot reach $DB_URL; exit 1"],
                                        "interval": "1s", "timeout": "1s", "retries": 1})
    d = Deployment.objects.create(stack=stack)
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    wait_until(lambda: any(r["health"] == "unhealthy" for r in stack_status(project)), 30,
               what="the container unhealthy")
    assert "hunter2-Zq81" in next(r for r in stack_status(project) if r["health"])["health_output"]  # what Docker says
    poll_stack(stack, stack_status(project))
    client.force_login(operator)
    html = client.get(f"/stacks/{project}/").content.decode()
    assert "cannot reach postgres://app:••••••••@db/app" in html
    assert "hunter2-Zq81" not in html
