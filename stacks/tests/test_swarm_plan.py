"""The Swarm conversion and plan, pure: no engine needed."""
from pathlib import Path

from stacks.engine.plan import Desired
from stacks.engine.swarm import NAMESPACE, SPEC_HASH, SwarmObserved, convert_service, plan

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
