"""Adopted projects on the real Docker engine: the kept service keys are applied
to the containers, and a project already running under docker-compose is taken
over without recreating what did not change."""
from io import StringIO

import pytest
from django.core.management import call_command

from stacks.models import Deployment, Stack
from stacks.operations.execute import execute
from stacks.operations.planning import plan_deploy

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


def test_a_running_docker_compose_project_is_adopted_without_recreating_its_containers(project, docker_api, tmp_path):
    import subprocess

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("level = info\n")
    (tmp_path / "docker-compose.yml").write_text(f"""
services:
  node:
    image: {NODE}
  sleeper:
    image: panel-local/busybox:latest
    command: ["sleep", "3600"]
    environment: {{MODE: x}}
    init: true
  conf:
    image: panel-local/busybox:latest
    command: ["sleep", "3600"]
    volumes: ["./conf:/conf:ro"]
""")
    up = subprocess.run(["docker-compose", "-p", project, "up", "-d"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0, up.stderr

    def ids():
        found = docker_api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
        return {c["Labels"]["com.docker.compose.service"]: c["Id"] for c in found}

    before = ids()
    out = StringIO()
    call_command("stack", "adopt", project, stdout=out, stderr=StringIO())
    assert f"Adopted {project} as stack {project} (3 services; kept as they run: node, sleeper, conf)" in out.getvalue()
    stack = Stack.objects.get(slug=project)
    assert stack.files.get().path == "conf/app.conf"

    d = deploy(stack)
    assert d.status == "succeeded", d.error
    after = ids()
    # Adopted in place: conf's ./conf mount is the same directory, so nothing is recreated.
    assert after == before and stack.directory == tmp_path.resolve()
    assert deploy(stack).status == "succeeded" and ids() == after  # and the next deploy changes nothing


def test_the_overview_offers_to_adopt_projects_the_panel_does_not_manage(project, docker_api, tmp_path, client,
                                                                         operator):
    import subprocess

    (tmp_path / "docker-compose.yml").write_text(f"services:\n  node:\n    image: {NODE}\n")
    subprocess.run(["docker-compose", "-p", project, "up", "-d"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    from stacks.models import Engine
    from stacks.tasks import poll_engine

    poll_engine(Engine.objects.get(name="local").pk)  # as beat does: the page never asks the engine itself
    client.force_login(operator)
    html = client.get("/").content.decode()
    assert project in html and 'action="/stacks/adopt/"' in html
    row = html[html.index(f'<tr data-project="{project}">'):]
    assert '<td data-label="Engine">local</td>' in row[:row.index("</tr>")]
    r = client.post("/stacks/adopt/", {"project": project})
    assert r.status_code == 302 and r["Location"] == f"/stacks/{project}/"
    assert Stack.objects.filter(slug=project).exists()


def test_top_level_network_volume_options_configs_and_secrets_are_applied(project, docker_api, tmp_path):
    (tmp_path / "app.conf").write_text("level = info\n")
    (tmp_path / "token.txt").write_text("s3cret\n")
    (tmp_path / "compose.yaml").write_text(f"""
name: {project}
services:
  box:
    image: panel-local/busybox:latest
    command: ["sleep", "3600"]
    networks: [back]
    volumes: ["scratch:/scratch"]
    configs: [app_conf, {{source: app_conf, target: /etc/app/app.conf}}]
    secrets: [token]
networks:
  back:
    internal: true
    labels: {{team: ops}}
volumes:
  scratch:
    driver_opts: {{type: tmpfs, device: tmpfs, o: size=8m}}
    labels: {{team: ops}}
configs:
  app_conf: {{file: ./app.conf}}
secrets:
  token: {{file: ./token.txt}}
""")
    call_command("stack", "import", str(tmp_path), "--name", project, stdout=StringIO(), stderr=StringIO())
    d = deploy(Stack.objects.get(slug=project))
    assert d.status == "succeeded", d.error
    network = docker_api.inspect_network(f"{project}_back")
    assert network["Internal"] is True and network["Labels"]["team"] == "ops"
    volume = docker_api.inspect_volume(f"{project}_scratch")
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"} and volume["Labels"]["team"] == "ops"
    (c,) = docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})

    def read(path):
        run = docker_api.exec_create(c["Id"], ["cat", path])
        return docker_api.exec_start(run["Id"]).decode()

    # As Compose mounts them without Swarm: a config at /<name>, a secret under /run/secrets.
    assert read("/app_conf") == read("/etc/app/app.conf") == "level = info\n"
    assert read("/run/secrets/token") == "s3cret\n"


def test_a_project_started_from_several_files_is_adopted_merged(project, docker_api, tmp_path):
    import subprocess

    (tmp_path / ".env").write_text("MODE=x\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  sleeper:\n    image: panel-local/busybox:latest\n    command: [sleep, '3600']\n"
        "    environment: [\"MODE=${MODE}\"]\n    init: true\n")
    (tmp_path / "docker-compose.extra.yml").write_text(
        "services:\n  sleeper:\n    environment: [LEVEL=debug]\n  node:\n    image: panel-local/node-exporter:latest\n")
    up = subprocess.run(["docker-compose", "-p", project, "-f", "docker-compose.yml", "-f", "docker-compose.extra.yml",
                         "up", "-d"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                        env={"PATH": "/usr/bin:/bin", "HOME": "/root"})
    assert up.returncode == 0, up.stderr
    before = {c["Labels"]["com.docker.compose.service"]: c["Id"]
              for c in docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})}
    out = StringIO()
    call_command("stack", "adopt", project, stdout=out, stderr=StringIO())
    assert "kept as they run: node, sleeper" in out.getvalue()
    sleeper = Stack.objects.get(slug=project).services.get(name="sleeper")
    assert sleeper.environment == {"MODE": "x", "LEVEL": "debug"}
    d = deploy(Stack.objects.get(slug=project))
    assert d.status == "succeeded", d.error
    after = {c["Labels"]["com.docker.compose.service"]: c["Id"]
             for c in docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})}
    assert after == before


def test_a_binary_file_of_a_build_context_reaches_the_image_unchanged(project, docker_api):
    from stacks.tests.test_adoption import PROJECTS

    call_command("stack", "import", str(PROJECTS / "binary-context"), "--name", project, stdout=StringIO(),
                 stderr=StringIO())
    stack = Stack.objects.get(slug=project)
    try:
        d = deploy(stack)
        assert d.status == "succeeded", d.error
        (c,) = docker_api.containers(filters={"label": f"com.docker.compose.project={project}"})
        run = docker_api.exec_create(c["Id"], ["cat", "/logo.png"])
        assert docker_api.exec_start(run["Id"]) == (PROJECTS / "binary-context/site/logo.png").read_bytes()
        assert plan_deploy(stack)[2].is_empty  # the file on disk is the one the bundle holds
    finally:
        try:
            docker_api.remove_image(f"{project}_site", force=True)
        except Exception:  # noqa: BLE001
            pass
