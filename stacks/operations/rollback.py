"""Rolling a stack back to what one of its deployments applied: that
deployment's definition version, restored as a new version ("rollback to #N"),
deployed through the plan with the images it ran (their registry digest, or
their local id when they have none), not what their tags point to now.

A rollback is a deploy with options (options["rollback_to"]), not a verb of its
own: it is planned, confirmed, recorded, followed, listed and timed exactly as a
deploy is, and the next rollback can go back to it like to any deploy."""
from django.db import transaction

from stacks.engine import client as docker_seam
from stacks.engine.client import EngineError
from stacks.models import Deployment, Engine, Registry, StackVersion
from stacks.versions import restore, snapshot


def target_of(stack, deployment_id):
    """The deployment of `stack` to roll back to; ValueError in the user's terms."""
    target = Deployment.objects.filter(pk=deployment_id, stack=stack).select_related("version").first()
    if target is None:
        raise ValueError(f"Deployment #{deployment_id} is not a deployment of {stack.slug}.")
    if target.action != "deploy" or target.status != Deployment.SUCCEEDED:
        raise ValueError(f"#{target.pk} is a {target.status} {target.action}: only a deploy that succeeded can be "
                         "rolled back to.")
    if target.version is None:
        raise ValueError(f"Deployment #{target.pk} ran before definitions were versioned: there is no definition "
                         "to restore.")
    return target


def before(deployment):
    """The successful deploy before `deployment` (the alert page's "roll back to the deployment before #12")."""
    return (Deployment.objects.filter(stack_id=deployment.stack_id, action="deploy", status=Deployment.SUCCEEDED,
                                      id__lt=deployment.pk, version__isnull=False).order_by("-id").first())


def pins(target):
    """{service: the image to run}: its digest, or its local id when it has none,
    for the services of the version restored."""
    services = {row["name"] for row in target.version.definition.get("services", [])}
    return {name: ran.get("digest") or ran.get("id") for name, ran in sorted(target.images.items())
            if name in services and (ran.get("digest") or ran.get("id"))}


def check(stack, target, report=None):
    """Refuse (EngineError, permanent) when the deployment cannot be run again:
    its engine is gone or is not the stack's any more, or an image it ran is no
    longer on the engine and cannot be pulled by its digest. Call on the stack's
    engine (connect.using). Returns the pins."""
    if target.engine_name and not Engine.objects.filter(name=target.engine_name).exists():
        raise EngineError(f"Deployment #{target.pk} ran on engine {target.engine_name}, which is gone: its images "
                          "cannot be run again.", permanent=True)
    if target.engine_name and target.engine_name != stack.engine.name:
        raise EngineError(f"Deployment #{target.pk} ran on engine {target.engine_name}; {stack.slug} is now on "
                          f"{stack.engine.name}. Move it back first (stack move).", permanent=True)
    wanted = pins(target)
    api = docker_seam.api()
    for service, pin in wanted.items():
        if docker_seam.image_id(api, pin):
            continue
        if "@sha256:" not in pin:
            raise EngineError(f"Image {pin} that {service} ran in #{target.pk} is no longer on engine "
                              f"{stack.engine.name} and has no registry digest: it cannot be run again.",
                              permanent=True)
        try:
            docker_seam.pull(api, pin, report or (lambda *a: None), Registry.auth_for([pin]))
        except EngineError as exc:
            raise EngineError(f"Image {pin} that {service} ran in #{target.pk} can no longer be pulled: {exc}",
                              permanent=True) from None
    return wanted


def restore_definition(stack, target, user=None):
    """Put back the definition `target` applied, as a new version; inside the caller's transaction."""
    return restore(stack, target.version, StackVersion.ROLLBACK, user=user, note=f"rollback to #{target.pk}")


def undo_restore(stack, before, version):
    """A rollback refused after its definition was restored: `before` (a snapshot)
    goes back, and the version the rollback recorded is dropped."""
    with transaction.atomic():
        snapshot.restore(stack, before)
        version.delete()
