"""Every path the engine writes stays in its stack's directory, through no
symlink, with owner-only directories."""
import os
import stat
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from stacks.lib.safe_paths import UnsafePath, is_inside, write_bundle
from stacks.models import Service, Stack, StackFile

pytestmark = pytest.mark.django_db


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_it_writes_owner_only_directories_and_files_containers_can_read(tmp_path):
    stack_dir = tmp_path / "stacks" / "app"
    changed = write_bundle(stack_dir, {"docker-compose.yml": "a", "prometheus/prometheus.yml": "b"})
    assert changed == ["docker-compose.yml", "prometheus/prometheus.yml"]
    assert mode(tmp_path / "stacks") == 0o700 and mode(stack_dir) == 0o700
    assert mode(stack_dir / "prometheus") == 0o755 and mode(stack_dir / "prometheus/prometheus.yml") == 0o644
    assert write_bundle(stack_dir, {"docker-compose.yml": "a", "prometheus/prometheus.yml": "c"}) == [
        "prometheus/prometheus.yml"]


def test_containers_can_read_the_files_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_bundle(tmp_path / "app", {"grafana/provisioning/x.yml": "a"})
    finally:
        os.umask(old)
    assert mode(tmp_path / "app") == 0o700
    assert mode(tmp_path / "app/grafana") == mode(tmp_path / "app/grafana/provisioning") == 0o755
    assert mode(tmp_path / "app/grafana/provisioning/x.yml") == 0o644


def test_it_tightens_an_existing_open_directory(tmp_path):
    stack_dir = tmp_path / "app"
    stack_dir.mkdir(mode=0o755)
    write_bundle(stack_dir, {"x": "1"})
    assert mode(stack_dir) == 0o700


@pytest.mark.parametrize("path", ["../../x", "/etc/x", "a/../../x", "", "a\\..\\x"])
def test_it_refuses_paths_outside_before_writing_anything(tmp_path, path):
    stack_dir = tmp_path / "stacks" / "app"
    with pytest.raises(UnsafePath):
        write_bundle(stack_dir, {"ok.yml": "fine", path: "evil"})
    assert not (stack_dir / "ok.yml").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


def test_it_never_follows_a_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    stack_dir = tmp_path / "app"
    stack_dir.mkdir()
    (stack_dir / "link.yml").symlink_to(outside)
    (stack_dir / "dir").symlink_to(tmp_path)
    for path in ("link.yml", "dir/outside.txt", "dir/new.txt"):
        with pytest.raises(UnsafePath):
            write_bundle(stack_dir, {path: "evil"})
    assert outside.read_text() == "keep" and not (tmp_path / "new.txt").exists()


def test_build_contexts_are_compared_as_resolved_paths(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app2").mkdir()
    assert is_inside(tmp_path / "app", ".") and is_inside(tmp_path / "app", "src")
    assert not is_inside(tmp_path / "app", "../app2")
    (tmp_path / "app" / "escape").symlink_to(tmp_path / "app2")
    assert not is_inside(tmp_path / "app", "escape")


@pytest.mark.parametrize("path", ["../../x", "/etc/cron.d/x", "a/../../x"])
def test_file_rows_refuse_paths_outside_even_outside_forms(path):
    stack = Stack.objects.create(slug="app", name="app")
    with pytest.raises(ValidationError):
        StackFile.objects.create(stack=stack, path=path, content="x")
    with pytest.raises(ValidationError):
        Service.objects.create(stack=stack, name="web", build_context="../app2")
    assert not StackFile.objects.exists() and not Service.objects.exists()


def test_a_row_forced_past_the_model_is_refused_by_validation_and_by_the_engine(tmp_path, settings):
    from stacks.engine.apply import write_files
    from stacks.engine.client import EngineError
    from stacks.engine.plan import Desired, Observed, plan
    from stacks.render import render_bundle
    from stacks.validation.checks import errors, validate_stack

    stack = Stack.objects.create(slug="app", name="app")
    Service.objects.create(stack=stack, name="web", image="busybox")
    f = StackFile.objects.create(stack=stack, path="ok.txt", content="x")
    StackFile.objects.filter(pk=f.pk).update(path="../../escaped.txt")  # a raw UPDATE skips save()
    bundle = render_bundle(stack)
    assert any("'..'" in p.message for p in errors(validate_stack(stack, bundle)))
    desired = Desired.from_bundle("app", settings.STACKS_DIR / "app", bundle, {})
    the_plan = plan(desired, Observed(files={path: None for path in bundle.files}))
    with pytest.raises(EngineError, match="Refused to write the bundle"):
        write_files(the_plan, lambda *a: None)
    assert not (Path(settings.STACKS_DIR).parent / "escaped.txt").exists()
    assert not (settings.STACKS_DIR / "app" / "escaped.txt").exists()


def test_a_symlink_a_container_planted_in_the_stack_directory_is_not_followed(tmp_path):
    # A service that bind-mounts its stack directory read-write could plant one.
    from stacks.lib.safe_paths import write_file

    stack_dir = tmp_path / "app"
    write_bundle(stack_dir, {"docker-compose.yml": "a"})
    target = tmp_path / "victim"
    target.write_text("keep")
    (stack_dir / ".panel-state.json").symlink_to(target)
    with pytest.raises(UnsafePath):
        write_file(stack_dir, ".panel-state.json", "{}")
    assert target.read_text() == "keep"
