"""A Swarm of two nodes on this machine: the local engine as the manager (the
Swarm initialised for the test on the host's end of a veth pair, and left again),
and a second dockerd in a network namespace of the test's own as a worker
(stacks/tests/swarm_node.py says how and why). A stack placed on each node shows,
on the panel's stack page and in `stack status`, the node `docker stack ps` names.

Needs root (network namespaces, a second daemon) and an engine not already in a
Swarm: the test initialises the Swarm with its own advertise address, which a
Swarm someone else initialised would not have; it is skipped, saying so, otherwise."""
import fcntl
import io
import os
import subprocess

import pytest
from django.core.management import call_command

from stacks.models import Deployment, Engine, Network, Service, Stack
from stacks.operations.execute import execute
from stacks.tests.conftest import wait_until
from stacks.tests.second_engine import SWARM_LOCK

pytestmark = [pytest.mark.docker]


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture
def two_nodes(docker_api):
    from stacks.tests.swarm_node import HOST_IP, SWARM_POOL, NamespacedNode

    if os.geteuid() != 0:
        pytest.skip("a network namespace and a second dockerd need root")
    with open(SWARM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if docker_api.info()["Swarm"]["LocalNodeState"] != "inactive":
            pytest.skip("the local engine is already in a Swarm, advertised on an address the namespace's node "
                        "may not reach; this test initialises its own")
        node = NamespacedNode()
        initialised = False
        try:
            node.start()
            node.load_images("panel-local/busybox")
            sh("docker", "swarm", "init", "--advertise-addr", HOST_IP, "--default-addr-pool", SWARM_POOL)
            initialised = True
            node.join(sh("docker", "swarm", "join-token", "-q", "worker").strip())
            wait_until(lambda: sh("docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}").count("Ready") == 2,
                       60, what="both nodes Ready")
            yield node
        finally:
            node.stop()
            if initialised:
                if node.node_id:
                    subprocess.run(["docker", "node", "rm", "--force", node.node_id], capture_output=True)
                sh("docker", "swarm", "leave", "--force")


def test_tasks_on_two_nodes_show_the_node_docker_stack_ps_names(db, two_nodes, client, viewer):
    from stacks.monitoring.health import poll_one

    manager = sh("docker", "info", "--format", "{{.Name}}").strip()
    assert manager != two_nodes.hostname
    stack = Stack.objects.create(slug="twonodes", name="twonodes",
                                 engine=Engine.objects.create(name="cluster", swarm=True))
    Network.objects.create(stack=stack, key="default")
    for name, where in (("near", "node.role == manager"), ("far", f"node.hostname == {two_nodes.hostname}")):
        Service.objects.create(stack=stack, name=name, image="panel-local/busybox", command=["sleep", "600"],
                               restart="no", extra={"deploy": {"placement": {"constraints": [where]}}})
    try:
        d = execute(Deployment.objects.create(stack=stack, action="deploy"))
        d.refresh_from_db()
        assert d.status == "succeeded", d.error
        ps = dict(line.split() for line in sh(
            "docker", "stack", "ps", "twonodes", "--filter", "desired-state=running",
            "--format", "{{.Name}} {{.Node}}").splitlines())
        assert ps == {"twonodes_near.1": manager, "twonodes_far.1": two_nodes.hostname}
        assert "Running" in two_nodes.cli("ps", "--filter", "label=com.docker.swarm.service.name=twonodes_far",
                                          "--format", "{{.Status}}").stdout.replace("Up", "Running")

        poll_one(stack)
        client.force_login(viewer)
        page = client.get("/stacks/twonodes/", HTTP_HX_REQUEST="true").content.decode()
        for task, node in ps.items():
            row = page[page.index(f'data-replica="{task}"'):]
            assert f'class="node">{node}<' in row[:row.index("</tr>")]
        out = io.StringIO()
        call_command("stack", "status", "twonodes", stdout=out)
        lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
        assert two_nodes.hostname in lines["twonodes_far.1"] and manager in lines["twonodes_near.1"]
    finally:
        subprocess.run(["docker", "stack", "rm", "twonodes"], capture_output=True)
        wait_until(lambda: not two_nodes.cli("ps", "-aq").stdout.strip()
                   and not sh("docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace=twonodes"),
                   60, what="docker stack rm on both nodes")
