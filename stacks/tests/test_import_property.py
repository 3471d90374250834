"""Any Compose service mapping the schema accepts survives import → render with
the same meaning, as `docker-compose config` reads both: every key kept, none
changed (modulo key order and spellings Compose treats alike)."""
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.adoption.importer import service_fields
from stacks.models import Service
from stacks.render import Secrets
from stacks.render.compose import service_dict
from stacks.tests.test_adoption import _canon_service
from stacks.validation.checks import check_compose_schema_doc

word = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# Values with a literal dollar ($$) and with interpolation (${X}) as Compose spells them.
value = st.from_regex(r"[A-Za-z0-9 ./:=_-]{0,12}(\$\$[a-z]{1,3}|\$\{X\})?", fullmatch=True)
duration = st.sampled_from(["10s", "1m30s", "500ms"])
env = st.one_of(st.dictionaries(word.map(str.upper), value, max_size=3),
                st.lists(st.tuples(word.map(str.upper), value).map("=".join), max_size=3, unique=True))
port = st.tuples(st.sampled_from(["", "127.0.0.1:"]), st.integers(1024, 65000), st.integers(1, 65000)).map(
    lambda t: f"{t[0]}{t[1]}:{t[2]}")

SERVICE_KEYS = {
    "privileged": st.booleans(), "read_only": st.booleans(), "init": st.booleans(),
    "cap_add": st.lists(st.sampled_from(["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]), min_size=1, max_size=2, unique=True),
    "devices": st.lists(st.sampled_from(["/dev/kmsg", "/dev/fuse:/dev/fuse"]), min_size=1, max_size=2, unique=True),
    "pid": st.just("host"), "user": st.sampled_from(["root", "1000:1000", "nobody"]),
    "working_dir": st.sampled_from(["/", "/srv/app"]), "stop_signal": st.sampled_from(["SIGTERM", "SIGINT"]),
    "stop_grace_period": duration, "shm_size": st.sampled_from(["64m", "1g"]),
    "tmpfs": st.one_of(st.just("/tmp"), st.lists(st.sampled_from(["/tmp", "/run"]), min_size=1, unique=True)),
    "ulimits": st.dictionaries(st.sampled_from(["nofile", "nproc"]),
                               st.one_of(st.integers(1, 65535),
                                         st.builds(lambda a: {"soft": a, "hard": a}, st.integers(1, 65535))),
                               min_size=1),
    "sysctls": st.dictionaries(st.sampled_from(["net.core.somaxconn", "net.ipv4.tcp_syncookies"]),
                               st.integers(0, 4096), min_size=1),
    "entrypoint": st.one_of(st.lists(word, min_size=1, max_size=3), st.just("")),
    "command": st.one_of(st.lists(value, min_size=1, max_size=3), word),
    "environment": env, "labels": env,
    "ports": st.lists(port, max_size=2, unique_by=lambda p: p.split(":")[-2]),
    "volumes": st.lists(st.sampled_from(["/srv:/srv", "/etc/hosts:/h:ro", "/var/log:/logs:rw"]),
                        max_size=2, unique=True),
    "restart": st.sampled_from(["no", "always", "unless-stopped", "on-failure", "on-failure:3"]),
    "extra_hosts": st.lists(st.sampled_from(["host.docker.internal:host-gateway", "db:10.0.0.5"]), unique=True),
    "healthcheck": st.fixed_dictionaries({"test": st.one_of(value.filter(bool), st.just(["CMD", "true"]))},
                                         optional={"interval": duration, "retries": st.integers(1, 5)}),
    "logging": st.fixed_dictionaries({"driver": st.sampled_from(["json-file", "fluentd"])},
                                     optional={"options": st.dictionaries(st.sampled_from(["tag", "max-size"]),
                                                                          value, min_size=1)}),
    "deploy": st.fixed_dictionaries({}, optional={
        "replicas": st.integers(1, 3),
        "resources": st.fixed_dictionaries({"limits": st.fixed_dictionaries({"memory": st.sampled_from(["64M", "1G"])})})}),
    "hostname": word, "dns": st.lists(st.sampled_from(["1.1.1.1", "9.9.9.9"]), min_size=1, unique=True),
    "x-team": st.dictionaries(word, value, max_size=2),
}
service = st.fixed_dictionaries({"image": st.sampled_from(["busybox", "nginx:1.27"])}, optional=SERVICE_KEYS)


def round_trip(spec):
    fields = service_fields("svc", spec)
    return service_dict(Service(**fields), Secrets({}))


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(specs=st.lists(service, min_size=1, max_size=4))
def test_any_service_the_schema_accepts_survives_import_and_render(specs):
    original = {"services": {f"o{i}": s for i, s in enumerate(specs)}}
    if check_compose_schema_doc(original):
        return  # not a Compose file: refused at import, with the schema's words (tested elsewhere)
    both = dict(original["services"])
    both.update({f"r{i}": round_trip(s) for i, s in enumerate(specs)})
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "compose.yaml").write_text(yaml.safe_dump({"services": both}))
        out = subprocess.run(["docker-compose", "-f", "compose.yaml", "-p", "prop", "config"], cwd=tmp,
                             capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "X": "ex"})
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for i in range(len(specs)):
        assert _canon_service(services[f"r{i}"]) == _canon_service(services[f"o{i}"])
