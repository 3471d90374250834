"""The health poller: container state from the engine plus HTTP probes, kept with
their changes over time."""
import pytest

from stacks.health import poll_all
from stacks.models import Deployment, HealthChange, ServiceHealth
from stacks.tasks import execute
from stacks.defaults.demo import mini_monitoring

from .conftest import free_port, wait_until

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
