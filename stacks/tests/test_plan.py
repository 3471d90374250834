"""The plan, without Docker: a rendered bundle and an observed engine state in,
every kind of change out."""
from pathlib import Path

from stacks.engine import labels as L
from stacks.engine.plan import Desired, Observed, plan
from stacks.engine.service import Existing

COMPOSE = {
    "services": {
        "prometheus": {"image": "prom:1", "volumes": ["./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                                                      "prom_data:/prometheus"],
                       "depends_on": {"exporter": {"condition": "service_started"}}},
        "exporter": {"image": "exporter:1", "environment": {"A": "1"}},
        "fluentd": {"build": {"context": "./fluentd"}, "volumes": ["./fluentd/fluent.conf:/fluentd/etc/fluent.conf"]},
    },
    "volumes": {"prom_data": {}},
}
FILES = {"docker-compose.yml": "services: …\n", "prometheus/prometheus.yml": "scrape_interval: 15s\n",
         "fluentd/fluent.conf": "<match **>\n</match>\n", "fluentd/Dockerfile": "FROM x\n"}
ROLES = {"prometheus": "prometheus", "exporter": "node-exporter", "fluentd": "fluentd"}
IMAGES = {"prom:1": "sha256:p1", "exporter:1": "sha256:e1", "demo_fluentd": "sha256:f1"}


def desired(compose=None, files=None, secret=""):
    mask = (lambda text: text.replace(secret, "••••")) if secret else (lambda text: text)
    return Desired("demo", Path("/srv/demo"), compose or COMPOSE, files or FILES, ROLES, mask)


def deployed(d, images=IMAGES):
    """What the engine holds right after `d` was applied."""
    p = plan(d, Observed(images=images))
    containers = [Existing(f"id-{a.service}-{a.number}", f"demo_{a.service}_{a.number}", a.service, a.number,
                           p.hashes[a.service], True, p.applied[a.service]) for a in p.actions]
    return Observed(containers=containers, images=dict(images), files=dict(d.files), state=p.state,
                    networks={"demo_default": {L.PROJECT: "demo", L.NETWORK: "default"}},
                    volumes={"demo_prom_data": {L.PROJECT: "demo"}})


def kinds(p):
    return sorted((a.kind, a.service, a.number) for a in p.changes)


def test_it_plans_everything_for_a_cold_deploy():
    p = plan(desired(), Observed(images={"prom:1": "sha256:p1"}))
    assert [(s.kind, s.target) for s in p.images] == [("pull", "exporter:1"), ("build", "demo_fluentd")]
    assert [(s.kind, s.target) for s in p.networks] == [("create", "demo_default")]
    assert [(s.kind, s.target) for s in p.volumes] == [("create", "demo_prom_data")]
    assert kinds(p) == [("create", "exporter", 1), ("create", "fluentd", 1), ("create", "prometheus", 1)]
    assert sorted(f.path for f in p.files) == sorted(FILES) and {f.change for f in p.files} == {"add"}
    assert p.order == [["exporter", "fluentd"], ["prometheus"]]
    assert not p.is_empty


def test_it_plans_nothing_once_deployed():
    d = desired()
    p = plan(d, deployed(d))
    assert p.is_empty and p.summary() == "nothing to change" and p.lines() == ["nothing to change"]
    assert p.as_dict()["empty"] is True


def test_it_recreates_a_changed_service_and_names_the_setting():
    d = desired()
    before = deployed(d)
    compose = {**COMPOSE, "services": {**COMPOSE["services"],
                                       "exporter": {"image": "exporter:1", "environment": {"A": "2"}}}}
    p = plan(desired(compose), before)
    assert kinds(p) == [("recreate", "exporter", 1)]
    assert p.changes[0].reason == "environment changed"
    assert "service  recreate exporter#1 (environment changed)" in p.lines()


def test_it_recreates_when_the_image_id_changed():
    d = desired()
    before = deployed(d)
    before.images["exporter:1"] = "sha256:e2"
    p = plan(d, before)
    assert [(a.kind, a.service, a.reason) for a in p.changes] == [("recreate", "exporter", "image id changed")]


def test_it_starts_a_stopped_container():
    d = desired()
    before = deployed(d)
    before.containers[0].running = False
    p = plan(d, before)
    assert [(a.kind, a.reason) for a in p.changes] == [("start", "stopped")]


def test_a_reloadable_service_is_reloaded_with_the_file_named():
    d = desired()
    before = deployed(d)
    files = {**FILES, "prometheus/prometheus.yml": "scrape_interval: 30s\n"}
    p = plan(desired(files=files), before)
    assert kinds(p) == []
    assert [(r.service, r.files) for r in p.reloads] == [("prometheus", ["prometheus/prometheus.yml"])]
    assert [(f.path, f.change) for f in p.files] == [("prometheus/prometheus.yml", "modify")]
    assert "-scrape_interval: 15s\n+scrape_interval: 30s" in p.files[0].diff


def test_a_file_a_program_cannot_reload_recreates_it():
    d = desired()
    before = deployed(d)
    files = {**FILES, "fluentd/fluent.conf": "<match app.**>\n</match>\n"}
    p = plan(desired(files=files), before)
    assert [(a.kind, a.service, a.reason) for a in p.changes] == [
        ("recreate", "fluentd", "file fluentd/fluent.conf changed")]
    assert p.reloads == []


def test_a_changed_config_or_secret_file_recreates_its_service_or_reloads_it():
    """Top-level configs and secrets are bind-mounted files on one engine: a change
    of one counts like a changed ./ volume of the services that use it."""
    compose = {**COMPOSE, "services": {**COMPOSE["services"],
                                       "exporter": {"image": "exporter:1", "secrets": ["token"]},
                                       "prometheus": {**COMPOSE["services"]["prometheus"],
                                                      "configs": [{"source": "extra", "target": "/etc/extra.yml"}]}},
               "configs": {"extra": {"file": "./extra/extra.yml"}}, "secrets": {"token": {"file": "token.txt"}}}
    files = {**FILES, "extra/extra.yml": "a: 1\n", "token.txt": "s3cret\n"}
    before = deployed(desired(compose, files))
    p = plan(desired(compose, {**files, "token.txt": "rotated\n", "extra/extra.yml": "a: 2\n"}), before)
    assert [(a.kind, a.service, a.reason) for a in p.changes] == [("recreate", "exporter", "file token.txt changed")]
    assert [(r.service, r.files) for r in p.reloads] == [("prometheus", ["extra/extra.yml"])]


def test_orphans_extra_replicas_and_unused_networks_are_removed():
    d = desired()
    before = deployed(d)
    before.containers.append(Existing("id-old", "demo_old_1", "old", 1, "h", True))
    before.containers.append(Existing("id-exp-2", "demo_exporter_2", "exporter", 2, "h", True))
    before.networks["demo_backend"] = {L.PROJECT: "demo", L.NETWORK: "backend"}
    before.networks["other_default"] = {L.PROJECT: "other", L.NETWORK: "default"}
    p = plan(d, before)
    assert kinds(p) == [("remove", "exporter", 2), ("remove", "old", 1)]
    assert {a.service: a.reason for a in p.changes} == {"exporter": "scale 2 → 1",
                                                       "old": "service no longer in the stack"}
    assert [(s.kind, s.target) for s in p.networks] == [("remove", "demo_backend")]


def test_a_missing_external_volume_is_named_and_never_created():
    compose = {**COMPOSE, "volumes": {"prom_data": {"external": True}}}
    p = plan(desired(compose), Observed(images=IMAGES))
    assert [(s.kind, s.target) for s in p.volumes] == [("missing", "prom_data")]


def test_the_file_diff_masks_secrets():
    files = {**FILES, "prometheus/prometheus.yml": "password: hunter2-secret\n"}
    p = plan(desired(files=files, secret="hunter2-secret"), deployed(desired()))
    assert "hunter2" not in str(p.as_dict()) and "password: ••••" in p.files[0].diff


def scaled(replicas):
    exporter = {"image": "exporter:1", "environment": {"A": "1"}, "deploy": {"replicas": replicas}}
    return desired({**COMPOSE, "services": {**COMPOSE["services"], "exporter": exporter}})


def test_scaling_up_creates_the_new_replicas_and_leaves_the_first():
    p = plan(scaled(3), deployed(desired()))
    assert kinds(p) == [("create", "exporter", 2), ("create", "exporter", 3)]
    assert [a.kind for a in p.for_service("exporter")] == ["noop", "create", "create"]
    assert "service  create exporter#2 (scale 1 → 3)" in p.lines()
    assert not any("recreate" in line for line in p.lines())


def test_scaling_down_removes_the_highest_replicas_only():
    p = plan(scaled(1), deployed(scaled(3)))
    assert [(a.kind, a.number, a.reason) for a in p.changes] == [("remove", 3, "scale 3 → 1"),
                                                                  ("remove", 2, "scale 3 → 1")]
    assert p.for_service("exporter")[0].kind == "noop"


def test_other_deploy_settings_still_recreate():
    before = deployed(scaled(2))
    d = scaled(2)
    d.compose["services"]["exporter"]["deploy"]["resources"] = {"limits": {"memory": "64m"}}
    p = plan(d, before)
    assert kinds(p) == [("recreate", "exporter", 1), ("recreate", "exporter", 2)]
    assert p.changes[0].reason == "deploy changed"
