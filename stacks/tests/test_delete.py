"""Deleting a stack: `stack delete SLUG --yes` and the stack page's Delete bring it
down first (an operation), then its rows and its directory go; audited."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from stacks.models import AuditRecord, Deployment, Service, Stack, Volume
from stacks.operations.execute import execute

pytestmark = pytest.mark.django_db


def sleeper_stack(slug):
    stack = Stack.objects.create(slug=slug, name=slug)
    Volume.objects.create(stack=stack, key="data")
    Service.objects.create(stack=stack, name="sleeper", image="panel-local/busybox:latest",
                           command=["sleep", "3600"], volumes=["data:/data"])
    return stack


def project_containers(api, slug):
    return api.containers(all=True, filters={"label": f"com.docker.compose.project={slug}"})


def project_volumes(api, slug):
    return [v["Name"] for v in api.volumes(filters={"label": f"com.docker.compose.project={slug}"})["Volumes"] or []]


@pytest.mark.docker
@pytest.mark.celery
def test_it_leaves_no_container_no_row_and_no_directory(project, docker_api, settings, celery_worker):
    stack = sleeper_stack(project)
    deployed = Deployment.objects.create(stack=stack, action="deploy")
    execute(deployed)
    deployed.refresh_from_db()
    assert deployed.status == "succeeded", deployed.error
    assert project_containers(docker_api, project) and (settings.STACKS_DIR / project).is_dir()
    assert project_volumes(docker_api, project)

    call_command("stack", "delete", project, "--yes")

    assert not project_containers(docker_api, project)
    assert not project_volumes(docker_api, project)
    assert not Stack.objects.filter(slug=project).exists()
    assert not Service.objects.filter(name="sleeper", stack__slug=project).exists()
    assert not (settings.STACKS_DIR / project).exists()
    assert AuditRecord.objects.filter(action="deleted", target=f"stack {project}").exists()
    assert AuditRecord.objects.filter(action="delete", target=f"stack {project}").exists()


@pytest.mark.docker
@pytest.mark.celery
def test_it_keeps_the_volumes_when_asked(project, docker_api, celery_worker):
    stack = sleeper_stack(project)
    execute(Deployment.objects.create(stack=stack, action="deploy"))
    call_command("stack", "delete", project, "--yes", "--keep-volumes")
    assert not project_containers(docker_api, project)
    kept = project_volumes(docker_api, project)
    assert kept == [f"{project}_data"]
    docker_api.remove_volume(kept[0])


def test_it_asks_first_and_refuses_without_an_answer(db):
    sleeper_stack("asked")
    with pytest.raises(CommandError, match="--yes"):
        call_command("stack", "delete", "asked")
    assert Stack.objects.filter(slug="asked").exists()


def test_the_stack_page_links_to_a_page_that_says_what_goes(as_operator):
    sleeper_stack("shown")
    page = as_operator.get("/stacks/shown/").content.decode()
    assert "/stacks/shown/delete/" in page
    confirm = as_operator.get("/stacks/shown/delete/").content.decode()
    assert "Containers and networks" in confirm and "<code>data</code>" in confirm
    assert "shown" in confirm and "Keep the named volumes" in confirm


def test_a_viewer_cannot_delete(as_viewer):
    sleeper_stack("kept")
    assert as_viewer.get("/stacks/kept/delete/").status_code == 403
    assert as_viewer.post("/stacks/kept/delete/").status_code == 403
    assert "Delete…" not in as_viewer.get("/stacks/kept/").content.decode()
    assert Stack.objects.filter(slug="kept").exists()


def test_delete_is_not_an_action_the_generic_button_takes(as_operator):
    sleeper_stack("guarded")
    assert as_operator.post("/stacks/guarded/delete/x/").status_code in (400, 404)
    assert as_operator.post("/stacks/guarded/delete/", {}).status_code == 302
    assert Deployment.objects.filter(stack__slug="guarded", action="delete").exists() or \
        not Stack.objects.filter(slug="guarded").exists()
