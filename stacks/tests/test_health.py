"""The health poller: container state from the engine plus HTTP probes, kept with
their changes over time."""
import pytest

from stacks.defaults.demo import mini_monitoring
from stacks.models import Deployment, HealthChange, ServiceHealth
from stacks.monitoring.health import poll_all
from stacks.operations.execute import execute
from stacks.tests.conftest import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def test_it_records_state_probes_and_changes(project, docker_api):
    stack = mini_monitoring(slug=project, prom_port=free_port(), am_port=free_port())
    d = Deployment.objects.create(stack=stack)
    execute(d)
    assert Deployment.objects.get(pk=d.pk).status == "succeeded"

    def prometheus_probed_ok():
        poll_all()
        h = ServiceHealth.objects.get(service__stack=stack, service__name="prometheus")
        return h.probe_ok and h.docker_health == "healthy" and h

    h = wait_until(prometheus_probed_ok, 60, 1, what="Prometheus healthy and probed")
    assert h.state == "running" and h.probe_detail == "HTTP 200"
    node = ServiceHealth.objects.get(service__stack=stack, service__name="node-exporter")
    assert node.state == "running" and node.probe_ok is None  # no published port to probe

    docker_api.stop(f"{project}_node-exporter_1", timeout=1)
    poll_all()
    node.refresh_from_db()
    assert node.state == "exited" and not node.healthy
    changes = list(HealthChange.objects.filter(service=node.service).values_list("summary", flat=True))
    assert changes[0] == "exited" and "running" in changes[1:]


def test_the_stack_page_shows_each_container_of_a_service_and_its_host(project, docker_api, client, viewer):
    from stacks.models import Network, Service, Stack

    stack = Stack.objects.create(slug=project, name=project)
    Network.objects.create(stack=stack, key="default")
    Service.objects.create(stack=stack, name="web", image="panel-local/busybox", command=["sleep", "600"],
                           replicas=2, restart="no")
    d = execute(Deployment.objects.create(stack=stack))
    assert Deployment.objects.get(pk=d.pk).status == "succeeded"
    poll_all()
    host = docker_api.info()["Name"]

    client.force_login(viewer)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # the page, and its 5 s refresh
        page = client.get(f"/stacks/{project}/", **headers).content.decode()
        rows = page[page.index('data-replicas-of="web"'):]
        rows = rows[:rows.index("</table>")]
        for n in (1, 2):
            row = rows[rows.index(f'data-replica="{project}_web_{n}"'):]
            row = row[:row.index("</tr>")]
            assert f'class="node">{host}<' in row and ">running<" in row

    docker_api.stop(f"{project}_web_2", timeout=1)
    poll_all()
    page = client.get(f"/stacks/{project}/", HTTP_HX_REQUEST="true").content.decode()
    row = page[page.index(f'data-replica="{project}_web_2"'):]
    assert ">exited<" in row[:row.index("</tr>")]
