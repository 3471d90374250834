"""Validation refuses the mistakes the tutorial's readers make, in their terms."""
import pytest

from stacks.models import AlertRule, InhibitRule, LogRoute, Receiver, ScrapeJob, Service, Stack
from stacks.validation.checks import errors, validate_stack

pytestmark = pytest.mark.django_db


def messages(stack, severity="error"):
    return [f"{p.where}: {p.message}" for p in validate_stack(stack) if p.severity == severity]


def test_it_refuses_a_host_port_published_by_two_stacks(defaults):
    # The tutorial published cAdvisor and the web app both on 8080.
    Service.objects.filter(stack__slug="monitoring", name="cadvisor").update(ports=["8080:8080"])
    Service.objects.filter(stack__slug="app", name="web").update(ports=["8080:3000"], replicas=1)
    found = messages(Stack.objects.get(slug="monitoring"))
    assert "service cadvisor: host port 8080/tcp is also published by app/web." in found


def test_it_refuses_replicas_sharing_one_host_port(defaults):
    Service.objects.filter(stack__slug="app", name="web").update(ports=["8090:3000"])
    found = messages(Stack.objects.get(slug="app"))
    assert any("2 replicas all publish host port 8090" in m and "8090-8091" in m for m in found), found


def test_it_refuses_depends_on_an_unknown_service(defaults):
    Service.objects.filter(stack__slug="logging", name="kibana").update(depends_on={"elastic": "service_healthy"})
    assert "service kibana: depends on 'elastic', which is not a service of this stack." in \
        messages(Stack.objects.get(slug="logging"))


def test_it_refuses_a_scrape_target_on_no_shared_network(defaults):
    # The tutorial's app stack joined "monitoring-network", which nothing created.
    Service.objects.filter(stack__slug="app", name="api").update(networks=["default"])
    found = messages(Stack.objects.get(slug="monitoring"))
    assert ("scrape job app-services: target api:3000: service api of stack app shares no network with "
            "prometheus; put both on a shared network.") in found


def test_it_refuses_a_target_nobody_serves(defaults):
    ScrapeJob.objects.filter(job_name="app-services").update(targets=["web:3000", "apii:3001"])
    assert "scrape job app-services: target apii:3001: no service named 'apii' on prometheus's networks." in \
        messages(Stack.objects.get(slug="monitoring"))


def test_it_warns_about_log_tags_no_route_matches(defaults):
    # The tutorial routed only docker.** while the apps logged app.web, db.postgres …
    LogRoute.objects.all().delete()
    LogRoute.objects.create(stack=Stack.objects.get(slug="logging"), tag_pattern="docker.**", index="docker-logs")
    warnings = messages(Stack.objects.get(slug="app"), "warning")
    assert "service web: log tag 'app.web' matches no log route: its logs reach Fluentd's stdout only, " \
           "never Elasticsearch." in warnings


@pytest.mark.tools
def test_it_shows_promtools_message_for_bad_promql(defaults):
    AlertRule.objects.filter(name="ServiceDown").update(expr="up = = 0")
    found = messages(Stack.objects.get(slug="monitoring"))
    assert any(m.startswith("prometheus/rules/alerts.yml:") and "parse error" in m for m in found), found


@pytest.mark.tools
def test_it_shows_amtools_message_for_bad_matchers(defaults):
    from stacks.models import Route

    Route.objects.update(matchers=["severity critical"])
    found = messages(Stack.objects.get(slug="monitoring"))
    assert any(m.startswith("alertmanager/alertmanager.yml:") for m in found), found


def test_it_refuses_the_admin_api_on_all_interfaces(defaults):
    svc = Service.objects.get(stack__slug="monitoring", name="prometheus")
    svc.command = svc.command + ["--web.enable-admin-api"]
    svc.ports = ["9090:9090"]
    svc.save()
    assert any("--web.enable-admin-api" in m for m in messages(Stack.objects.get(slug="monitoring")))


def test_it_warns_when_inhibit_equal_names_a_label_no_alert_carries(defaults):
    InhibitRule.objects.update(equal=["alertname", "dev", "instance"])
    warnings = messages(Stack.objects.get(slug="monitoring"), "warning")
    assert any("equal lists dev" in m for m in warnings), warnings


def test_it_refuses_a_receiver_name_alertmanager_would_escape(defaults):
    from django.core.exceptions import ValidationError

    receiver = Receiver(stack=Stack.objects.get(slug="monitoring"), name="web.hook", kind="panel")
    with pytest.raises(ValidationError) as exc:
        receiver.full_clean()
    assert "escapes other characters" in str(exc.value)


def test_it_refuses_a_compose_value_the_schema_rejects(defaults):
    Service.objects.filter(stack__slug="app", name="redis").update(
        healthcheck={"test": ["CMD", "redis-cli", "ping"], "retries": "three"})
    found = messages(Stack.objects.get(slug="app"))
    assert "service redis: healthcheck.retries: 'three' is not of type 'number'" in found, found


def test_it_refuses_a_mount_of_a_file_the_stack_does_not_produce(defaults):
    svc = Service.objects.get(stack__slug="monitoring", name="prometheus")
    svc.volumes = svc.volumes + ["./prometheus/extra.yml:/etc/prometheus/extra.yml:ro"]
    svc.save()
    assert ("service prometheus: mounts ./prometheus/extra.yml, which the stack does not produce "
            "(no generated or added file there).") in messages(Stack.objects.get(slug="monitoring"))


def test_the_default_stacks_have_no_errors(defaults):
    for stack in Stack.objects.all():
        assert errors(validate_stack(stack)) == []


def test_validating_a_stack_costs_the_same_whatever_the_other_stacks(defaults):
    """Other stacks are seen through their footprints (published ports, network
    members), derived once per change: never rendered, their files never read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stacks.models import StackFile

    def add_stacks(first, n):
        for i in range(first, first + n):
            other = Stack.objects.create(slug=f"other{i}", name=f"other{i}")
            Service.objects.create(stack=other, name="web", image="nginx", ports=[f"127.0.0.1:{30000 + i}:80"])
            StackFile.objects.create(stack=other, path="big.txt", content="x" * 200_000)

    def cost():
        monitoring = Stack.objects.get(slug="monitoring")
        validate_stack(monitoring)  # derives what is new
        with CaptureQueriesContext(connection) as queries:
            validate_stack(monitoring)
        return [q["sql"] for q in queries.captured_queries]

    add_stacks(0, 3)
    few = cost()
    add_stacks(3, 30)
    many = cost()
    assert len(many) == len(few)
    assert not [sql for sql in many if "stacks_stackfile" in sql and "monitoring" not in sql
                and '"stack_id" = ' not in sql]


def test_a_change_to_another_stack_is_seen_however_it_was_made(defaults):
    monitoring = Stack.objects.get(slug="monitoring")
    assert not [m for m in messages(monitoring) if "also published by app/" in m]  # footprints derived here
    Service.objects.filter(stack__slug="app", name="web").update(ports=["9090:3000"], replicas=1)
    assert "service prometheus: host port 9090/tcp is also published by app/web." in messages(monitoring)
    Stack.objects.filter(slug="app").update(slug="shop")
    assert "service prometheus: host port 9090/tcp is also published by shop/web." in messages(monitoring)
