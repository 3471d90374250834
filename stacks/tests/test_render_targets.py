"""Every scrape target is rendered with the stack and service behind it; replicated
services are discovered per replica; Prometheus and Alertmanager know their URL."""
import pytest
import yaml

from stacks.models import ScrapeJob, Service, Stack
from stacks.render import COMPOSE_FILE, PROMETHEUS_FILE, render_bundle

pytestmark = pytest.mark.django_db


def scrape_configs(slug):
    doc = yaml.safe_load(render_bundle(Stack.objects.get(slug=slug)).files[PROMETHEUS_FILE])
    return {job["job_name"]: job for job in doc["scrape_configs"]}


def test_it_labels_each_target_with_its_own_stack_and_service(defaults):
    jobs = scrape_configs("monitoring")
    assert jobs["node-exporter"]["static_configs"] == [
        {"targets": ["node-exporter:9100"], "labels": {"service": "node-exporter", "stack": "monitoring"}}]
    assert jobs["prometheus"]["static_configs"][0]["labels"] == {"service": "prometheus", "stack": "monitoring"}


def test_it_labels_targets_of_another_stack_reached_through_a_shared_network(defaults):
    jobs = scrape_configs("monitoring")
    app = jobs["app-services"]
    assert app["static_configs"] == [{"targets": ["api:3000"], "labels": {"service": "api", "stack": "app"}}]


def test_it_scrapes_each_replica_through_dns_discovery(defaults):
    app = scrape_configs("monitoring")["app-services"]
    assert app["dns_sd_configs"] == [{"names": ["web"], "type": "A", "port": 3000}]
    assert {(r["regex"], r["target_label"], r["replacement"]) for r in app["relabel_configs"]} == {
        ("web", "stack", "app"), ("web", "service", "web")}


def test_it_leaves_targets_it_cannot_place_unlabelled_and_lets_the_users_labels_win(defaults):
    jobs = scrape_configs("monitoring")
    assert "labels" not in jobs["control-panel"]["static_configs"][0]  # the panel itself, on the host
    ScrapeJob.objects.filter(job_name="node-exporter").update(labels={"service": "host"})
    assert scrape_configs("monitoring")["node-exporter"]["static_configs"][0]["labels"] == {
        "service": "host", "stack": "monitoring"}


def test_it_does_not_claim_a_name_two_other_stacks_share_on_the_network(defaults):
    app = Stack.objects.get(slug="app")
    other = Stack.objects.create(slug="other", name="other")
    other.networks.create(key="observability", name="observability", external=True)
    web = Service.objects.get(stack=app, name="api")
    web.pk, web.stack = None, other
    web.save()
    assert "labels" not in scrape_configs("monitoring")["app-services"]["static_configs"][0]


def test_it_relabels_cadvisor_series_with_the_containers_own_stack_and_service(defaults):
    relabel = scrape_configs("monitoring")["cadvisor"]["metric_relabel_configs"]
    assert {(r["source_labels"][0], r["target_label"]) for r in relabel} == {
        ("container_label_com_docker_compose_project", "stack"),
        ("container_label_com_docker_compose_service", "service")}


def test_it_gives_prometheus_and_alertmanager_the_url_they_are_published_on(defaults, settings):
    settings.STACKS_PUBLIC_HOST = "panel.example.org"
    services = yaml.safe_load(render_bundle(Stack.objects.get(slug="monitoring")).files[COMPOSE_FILE])["services"]
    assert "--web.external-url=http://panel.example.org:9090/" in services["prometheus"]["command"]
    assert "--web.external-url=http://panel.example.org:9093/" in services["alertmanager"]["command"]
    assert not any("external-url" in a for a in services["node-exporter"]["command"])
