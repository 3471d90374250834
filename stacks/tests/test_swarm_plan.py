"""The Swarm conversion and plan, pure: no engine needed."""
from pathlib import Path

from stacks.engine.plan import Desired
from stacks.engine.swarm_plan import SwarmObserved, plan
from stacks.engine.swarm_spec import NAMESPACE, SPEC_HASH, convert_service

DOC = {
    "services": {
        "prometheus": {
            "image": "prom/prometheus", "command": ["--config.file=/etc/prometheus/prometheus.yml"],
            "ports": ["127.0.0.1:9090:9090"], "depends_on": {"am": {"condition": "service_started"}},
            "volumes": ["./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                        "./prometheus/rules:/etc/prometheus/rules:ro", "data:/prometheus"],
            "deploy": {"replicas": 2, "placement": {"constraints": ["node.role == manager"]},
                       "resources": {"limits": {"cpus": "0.5", "memory": "256M"}},
                       "update_config": {"parallelism": 2, "order": "start-first"}},
        },
        "am": {"image": "prom/alertmanager", "volumes": ["./am/alertmanager.yml:/etc/alertmanager/alertmanager.yml"],
               "networks": ["back"]},
    },
    "networks": {"back": {}},
    "volumes": {"data": {}},
}
FILES = {"prometheus/prometheus.yml": "scrape_configs: []\n", "prometheus/rules/a.yml": "groups: []\n",
         "am/alertmanager.yml": "token: s3cret\n", "docker-compose.yml": "…"}


def mask(text):
    return text.replace("s3cret", "********")


def desired(files=FILES):
    return Desired("mon", Path("/tmp/mon"), DOC, files, {}, mask)


def test_it_converts_the_way_docker_stack_deploy_does():
    spec, objects = convert_service("mon", DOC, FILES, mask, "prometheus", DOC["services"]["prometheus"])
    assert spec["Name"] == "mon_prometheus" and spec["Labels"][NAMESPACE] == "mon"
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    task = spec["TaskTemplate"]
    assert task["Placement"]["Constraints"] == ["node.role == manager"]
    assert task["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * 1024 ** 2}
    assert spec["UpdateConfig"]["Parallelism"] == 2 and spec["UpdateConfig"]["Order"] == "start-first"
    assert spec["UpdateConfig"]["FailureAction"] == "rollback"
    assert task["Networks"] == [{"Target": "mon_default", "Aliases": ["prometheus"]}]
    assert spec["EndpointSpec"]["Ports"][0]["PublishedPort"] == 9090  # the host IP cannot be kept
    files = {c["File"]["Name"] for c in task["ContainerSpec"]["Configs"]}
    assert files == {"/etc/prometheus/prometheus.yml", "/etc/prometheus/rules/a.yml"}
    assert task["ContainerSpec"]["Mounts"][0]["Source"] == "mon_data"
    assert all(kind == "config" for kind, _p, _t in objects.values())


def test_a_file_holding_a_secret_travels_as_a_swarm_secret():
    spec, objects = convert_service("mon", DOC, FILES, mask, "am", DOC["services"]["am"])
    assert [k for k, _p, _t in objects.values()] == ["secret"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Name"] == "/etc/alertmanager/alertmanager.yml"
    assert "Configs" not in spec["TaskTemplate"]["ContainerSpec"]


def test_a_changed_file_is_a_new_config_and_an_update_of_its_service_only():
    first = plan(desired(), SwarmObserved())
    assert {c.kind for c in first.services} == {"create"} and set(first.networks) == {"mon_default", "mon_back"}
    observed = SwarmObserved(
        services={f"mon_{c.service}": {"hash": c.spec["Labels"][SPEC_HASH], "replicas": 2 if c.service == "prometheus"
                                       else 1, "spec": c.spec} for c in first.services},
        configs={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "config"},
        secrets={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "secret"},
        networks={"mon_default", "mon_back"})
    assert plan(desired(), observed).is_empty
    changed = plan(desired({**FILES, "prometheus/rules/a.yml": "groups: [x]\n"}), observed)
    assert [(c.kind, c.service) for c in changed.changes] == [("update", "prometheus")]
    assert "Configs" in changed.changes[0].reason
    assert [p for _k, p, _t in changed.objects.values()] == ["prometheus/rules/a.yml"]
    observed.services["mon_prometheus"]["replicas"] = 0  # after a stop
    assert [c.kind for c in plan(desired(), observed).changes] == ["scale"]


def test_a_pin_to_the_image_a_service_runs_already_leaves_it_alone():
    first = plan(desired(), SwarmObserved())
    running = {f"mon_{c.service}": {"hash": c.spec["Labels"][SPEC_HASH], "replicas": 2 if c.service == "prometheus"
                                    else 1, "spec": c.spec} for c in first.services}
    running["mon_am"]["spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = "prom/alertmanager:latest@sha256:aa"
    observed = SwarmObserved(
        services=running, configs={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "config"},
        secrets={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "secret"},
        networks={"mon_default", "mon_back"},
        running={"mon_prometheus": "sha256:1"}, pinned={"sha256:1": "sha256:1", "sha256:2": "sha256:2"})
    pins = {"prometheus": "sha256:1", "am": "prom/alertmanager@sha256:aa"}  # what each runs: a rollback
    same = plan(Desired("mon", Path("/tmp/mon"), DOC, FILES, {}, mask, pins), observed)
    assert same.is_empty, same.summary()
    other = plan(Desired("mon", Path("/tmp/mon"), DOC, FILES, {}, mask,
                         {"prometheus": "sha256:2", "am": "prom/alertmanager@sha256:bb"}), observed)
    assert sorted((c.kind, c.service, c.reason) for c in other.changes) == [
        ("update", "am", "Image"), ("update", "prometheus", "Image")]
    assert {c.service: c.spec["TaskTemplate"]["ContainerSpec"]["Image"] for c in other.changes} == {
        "prometheus": "sha256:2", "am": "prom/alertmanager@sha256:bb"}


TOP = {
    "services": {"app": {"image": "busybox", "networks": ["back"], "volumes": ["cache:/cache", "shared:/shared"],
                         "configs": ["app_conf", {"source": "app_conf", "target": "/etc/app/app.conf",
                                                  "uid": "10", "gid": "20", "mode": 0o440}, "logo"],
                         "secrets": ["db_password", {"source": "db_password", "target": "db", "mode": "0400"}]}},
    "networks": {"back": {"internal": True, "driver_opts": {"encrypted": ""}, "labels": {"team": "ops"},
                          "ipam": {"config": [{"subnet": "10.99.5.0/24"}]}}},
    "volumes": {"cache": {"driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"},
                          "labels": {"team": "ops"}},
                "shared": {"external": True, "name": "team-shared"}},
    "configs": {"app_conf": {"file": "./conf/app.conf"}, "logo": {"file": "./conf/logo.png"}},
    "secrets": {"db_password": {"file": "./secrets/db_password.txt"}},
}
PNG = b"\x89PNG\r\n\x1a\n\x00\xff"


def top_files(conf="answer = 42\n"):
    import base64

    from stacks.render import BinaryFile

    return {"conf/app.conf": conf, "conf/logo.png": BinaryFile(base64.b64encode(PNG).decode()),
            "secrets/db_password.txt": "hunter2\n"}


def test_top_level_configs_and_secrets_attach_where_compose_puts_them():
    spec, objects = convert_service("top", TOP, top_files(), mask, "app", TOP["services"]["app"])
    container = spec["TaskTemplate"]["ContainerSpec"]
    configs = {r["File"]["Name"]: (r["File"], r["ConfigName"]) for r in container["Configs"]}
    assert set(configs) == {"/app_conf", "/etc/app/app.conf", "/logo"}
    assert configs["/app_conf"][0] == {"Name": "/app_conf", "UID": "0", "GID": "0", "Mode": 0o444}
    assert configs["/etc/app/app.conf"][0] == {"Name": "/etc/app/app.conf", "UID": "10", "GID": "20", "Mode": 0o440}
    assert configs["/app_conf"][1] == configs["/etc/app/app.conf"][1]  # one config, two targets
    assert configs["/app_conf"][1].startswith("top_app_conf_")
    secrets = {r["File"]["Name"]: r for r in container["Secrets"]}
    assert set(secrets) == {"/run/secrets/db_password", "/run/secrets/db"}
    assert secrets["/run/secrets/db"]["File"]["Mode"] == 0o400
    assert objects[secrets["/run/secrets/db"]["SecretName"]][:2] == ("secret", "secrets/db_password.txt")


def test_a_binary_file_goes_into_its_config_as_its_bytes():
    from stacks.engine.swarm_spec import payload

    _spec, objects = convert_service("top", TOP, top_files(), mask, "app", TOP["services"]["app"])
    (logo,) = [text for _k, path, text in objects.values() if path == "conf/logo.png"]
    assert payload(logo) == PNG
    assert payload("answer = 42\n") == b"answer = 42\n"


def test_network_and_volume_options_are_passed_as_docker_stack_deploy_does():
    p = plan(Desired("top", Path("/tmp/top"), TOP, top_files(), {}, mask), SwarmObserved())
    net = p.network_specs["top_back"]
    assert net["driver"] == "overlay" and net["internal"] is True and net["options"] == {"encrypted": ""}
    assert net["labels"] == {"team": "ops", NAMESPACE: "top"}
    assert net["ipam"]["Config"] == [{"Subnet": "10.99.5.0/24"}]
    assert net["attachable"] is True
    mounts = {m["Target"]: m for m in p.services[0].spec["TaskTemplate"]["ContainerSpec"]["Mounts"]}
    assert mounts["/cache"]["Source"] == "top_cache"
    assert mounts["/cache"]["VolumeOptions"] == {
        "Labels": {"team": "ops", NAMESPACE: "top"},
        "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}}}
    assert mounts["/shared"]["Source"] == "team-shared" and "VolumeOptions" not in mounts["/shared"]


def test_the_plan_shows_a_rotation_and_a_noop_touches_nothing():
    first = plan(Desired("top", Path("/tmp/top"), TOP, top_files(), {}, mask), SwarmObserved())
    observed = SwarmObserved(
        services={"top_app": {"hash": first.services[0].spec["Labels"][SPEC_HASH], "replicas": 1,
                              "spec": first.services[0].spec}},
        configs={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "config"},
        secrets={n: "id" for n, (k, _p, _t) in first.objects.items() if k == "secret"},
        networks={"top_back"})
    again = plan(Desired("top", Path("/tmp/top"), TOP, top_files(), {}, mask), observed)
    assert again.is_empty and again.summary() == "nothing to change"
    changed = plan(Desired("top", Path("/tmp/top"), TOP, top_files("answer = 43\n"), {}, mask), observed)
    (new,) = changed.objects
    (old,) = [n for n, (_k, path, _t) in first.objects.items() if path == "conf/app.conf"]
    assert changed.rotations == {new: old}
    assert f"rotate config {old} → {new}" in changed.lines()
    assert [(c.kind, c.service) for c in changed.changes] == [("update", "app")]
    assert changed.as_dict()["rotations"] == [{"kind": "config", "old": old, "new": new}]


def test_a_file_too_large_for_a_swarm_config_is_refused_with_its_path():
    import pytest

    from stacks.engine.client import EngineError

    with pytest.raises(EngineError, match="conf/app.conf: .* over Swarm's limit"):
        plan(Desired("top", Path("/tmp/top"), TOP, top_files("x" * 600_000), {}, mask), SwarmObserved())


class RacyEngine:
    """A stand-in for the Docker API, and the one fake here: the daemon race of
    moby/moby#48783 (EBUSY remounting a task's configs tmpfs read-only) happens
    about once in a hundred task starts and cannot be brought about on purpose.
    The first task fails with it, or with `error`; a forced update starts one that runs."""

    def __init__(self, error):
        self.error, self.updates = error, []
        self.spec = {"Mode": {"Replicated": {"Replicas": 1}},
                     "TaskTemplate": {"RestartPolicy": {"Condition": "none"}}}

    def inspect_service(self, sid):
        return {"Spec": self.spec, "Version": {"Index": 7 + len(self.updates)}}

    def tasks(self, filters):
        failed = {"ID": "t1", "Slot": 1, "CreatedAt": "1", "DesiredState": "shutdown", "NodeID": "",
                  "Status": {"State": "failed", "Err": self.error}}
        new = {"ID": "t2", "Slot": 1, "CreatedAt": "2", "DesiredState": "running", "NodeID": "",
               "Status": {"State": "running"}}
        return [failed, new] if self.updates else [failed]

    def update_service(self, sid, version, task_template=None, fetch_current_spec=False):
        self.updates.append((version, task_template["ForceUpdate"], fetch_current_spec))


def test_a_task_the_daemons_race_failed_is_started_again_once_and_another_failure_is_said():
    from stacks.engine.swarm import SwarmBackend

    said = []
    race = RacyEngine("starting container failed: unable to remount dir as readonly: mount tmpfs:/var/lib/docker/"
                      "containers/b1/mounts/secrets, flags: 0x21, data: uid=0,gid=0: device or resource busy")
    assert SwarmBackend()._converge(race, "mon_prometheus", "sid", lambda m, kind="info": said.append(m)) is None
    assert race.updates == [(7, 1, True)]  # one forced update, on the current spec
    assert any("the engine failed to start its task" in m and "starting a new one" in m for m in said)

    other = RacyEngine("starting container failed: exec: \"prometheus\": executable file not found")
    error = SwarmBackend()._converge(other, "mon_prometheus", "sid", lambda m, kind="info": None)
    assert other.updates == [] and error == f"mon_prometheus: its task failed ({other.error})"
