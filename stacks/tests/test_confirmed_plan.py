"""A deploy applies the plan its operator confirmed, or nothing: the plan's id
goes with the confirmation, and a worker that finds another plan at claim time
refuses it in plain words and the page shows the new plan to confirm."""
import json

import pytest

from stacks.engine.plan import Observed, changed_lines, plan, recorded
from stacks.engine.service import Existing
from stacks.models import Deployment, PlanChanged, Stack
from stacks.operations.planning import take_plan
from stacks.seams import broker
from stacks.tasks import plan_key
from stacks.tests.test_engine import deploy, mini  # noqa: F401 — the demo stack on the real engine
from stacks.tests.test_plan import deployed, desired

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def stopped(observed, service):
    return Observed(**{**observed.__dict__, "containers": [
        Existing(**{**c.__dict__, "running": False}) if c.service == service else c for c in observed.containers]})


# --- The plan's id, without Docker ------------------------------------------------------

def test_the_same_state_gives_the_same_id_and_a_dead_container_another():
    d = desired()
    now = deployed(d)
    assert recorded(plan(d, now))["id"] == recorded(plan(desired(), deployed(desired())))["id"]
    after = recorded(plan(d, stopped(now, "exporter")))
    assert after["id"] != recorded(plan(d, now))["id"]
    assert after["lines"] == ["service  start exporter#1 (stopped)"]


def test_changed_lines_say_what_is_new_and_what_is_gone():
    assert changed_lines(["nothing to change"], ["service  start exporter#1 (stopped)"]) == \
        "now also: service start exporter#1 (stopped)"
    assert changed_lines(["service  create web#2", "file     modify a.yml"], ["file     modify a.yml"]) == \
        "no longer: service create web#2"


# --- The deployment row -----------------------------------------------------------------

def confirmed_deployment(stack, lines=("nothing to change",)):
    return Deployment.objects.create(stack=stack, options={"plan": "aaaa"}, plan={"id": "aaaa", "lines": list(lines)})


def test_a_deploy_takes_the_plan_it_was_confirmed_on(defaults):
    d = confirmed_deployment(Stack.objects.get(slug="app"))
    take_plan(d, {"id": "aaaa", "lines": ["nothing to change"]})
    assert not d.plan_changed


def test_a_deploy_refuses_another_plan_and_keeps_it(defaults):
    d = confirmed_deployment(Stack.objects.get(slug="app"))
    with pytest.raises(PlanChanged) as refused:
        take_plan(d, {"id": "bbbb", "lines": ["service  start redis#1 (stopped)"]})
    assert str(refused.value) == ("The plan changed since you confirmed it (now also: service start redis#1 "
                                  "(stopped)). Nothing was changed: review the new plan and deploy again.")
    d.refresh_from_db()
    assert d.plan["id"] == "bbbb" and d.plan_changed


def test_a_deploy_nobody_confirmed_applies_the_plan_it_finds(defaults):
    d = Deployment.objects.create(stack=Stack.objects.get(slug="app"))  # a script, beat
    take_plan(d, {"id": "cccc", "lines": ["service  create redis#1"]})
    d.refresh_from_db()
    assert d.plan["id"] == "cccc" and not d.plan_changed


# --- The pages -----------------------------------------------------------------------------

def test_the_confirm_button_carries_the_plan_and_the_deploy_keeps_it(as_operator, defaults, monkeypatch):
    monkeypatch.setattr("stacks.tasks.run_operation.delay", lambda pk: None)
    shown = {"id": "0123456789abcdef", "project": "app", "empty": False, "lines": ["service  create redis#1"],
             "files": []}
    broker.put(plan_key("tok-confirm"), json.dumps({"bundle_hash": "h", "problems": [], "plan": shown}), 60)
    html = as_operator.get("/stacks/app/plan/?token=tok-confirm", **HX).content.decode()
    assert 'name="plan" value="0123456789abcdef"' in html and 'name="token" value="tok-confirm"' in html
    as_operator.post("/stacks/app/deploy/", {"plan": shown["id"], "token": "tok-confirm"}, **HX)
    d = Deployment.objects.get()
    assert d.options == {"plan": shown["id"]} and d.plan["lines"] == ["service  create redis#1"]
    assert "Plan confirmed" in as_operator.get(f"/deployments/{d.pk}/").content.decode()


def test_a_refused_deploy_page_says_why_and_asks_for_the_new_plan(as_operator, defaults):
    d = confirmed_deployment(Stack.objects.get(slug="app"))
    with pytest.raises(PlanChanged) as refused:
        take_plan(d, {"id": "bbbb", "lines": ["service  start redis#1 (stopped)"]})
    d.fail(refused.value)
    html = as_operator.get(f"/deployments/{d.pk}/").content.decode()
    assert "The plan changed since you confirmed it" in html and "review the new plan" in html
    assert 'hx-get="/stacks/app/plan/"' in html and "Plan applied" not in html


# --- On the real engine: a container dies between the plan and the click -------------------

@pytest.mark.docker
def test_a_container_that_died_after_the_plan_was_shown_refuses_the_deploy(mini, docker_api, as_operator,
                                                                           monkeypatch):
    from stacks.operations.execute import execute
    from stacks.tasks import compute_plan
    from stacks.tests.test_engine import containers

    monkeypatch.setattr("stacks.tasks.run_operation.delay", lambda pk: None)  # carried out below, in-process
    assert deploy(mini).status == "succeeded"
    compute_plan(mini.pk, "tok-before")  # what the worker computes for the operator's page
    html = as_operator.get(f"/stacks/{mini.slug}/plan/?token=tok-before", **HX).content.decode()
    assert "Deploy (nothing to change)" in html
    shown = json.loads(broker.get(plan_key("tok-before")))["plan"]
    exporter = containers(docker_api, mini.slug)["node-exporter"]["Id"]
    docker_api.stop(exporter, timeout=1)  # dies before the operator clicks

    as_operator.post(f"/stacks/{mini.slug}/deploy/", {"plan": shown["id"], "token": "tok-before"}, **HX)
    d = Deployment.objects.get(stack=mini, status="queued")
    execute(d)
    d.refresh_from_db()
    assert d.status == "failed"
    assert d.error == ("The plan changed since you confirmed it (now also: service start node-exporter#1 "
                       "(stopped)). Nothing was changed: review the new plan and deploy again.")
    assert docker_api.inspect_container(exporter)["State"]["Running"] is False  # not started behind their back
    page = as_operator.get(f"/deployments/{d.pk}/").content.decode()
    assert "The plan changed since you confirmed it" in page and f'hx-get="/stacks/{mini.slug}/plan/"' in page

    compute_plan(mini.pk, "tok-after")  # the new plan, asked for by that page
    html = as_operator.get(f"/stacks/{mini.slug}/plan/?token=tok-after", **HX).content.decode()
    new = json.loads(broker.get(plan_key("tok-after")))["plan"]
    assert "service  start node-exporter#1 (stopped)" in html and f'value="{new["id"]}"' in html
    as_operator.post(f"/stacks/{mini.slug}/deploy/", {"plan": new["id"], "token": "tok-after"}, **HX)
    d = Deployment.objects.get(stack=mini, status="queued")
    execute(d)
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    assert docker_api.inspect_container(exporter)["State"]["Running"] is True
