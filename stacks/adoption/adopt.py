"""Adopting a Compose project that already runs on the engine (started with
docker-compose or docker compose): its files are found from its containers'
labels and imported as a directory is; what runs is recorded so that the first
deploy leaves unchanged containers alone."""
from pathlib import Path

from stacks.adoption.importer import ImportError_, import_project
from stacks.models import Stack
from stacks.adoption.project_dir import merged_compose, read_path


def unmanaged_projects():
    """[{"project", "working_dir", "services", "containers"}] running on the engine
    with no stack of that name. Raises EngineError when the engine is unreachable."""
    from stacks.engine import compose_projects

    managed = set(Stack.objects.values_list("slug", flat=True))
    out = []
    for name, p in sorted(compose_projects().items()):
        if name in managed:
            continue
        out.append({"project": name, "working_dir": p["working_dir"], "services": sorted(p["services"]),
                    "containers": sum(len(cs) for cs in p["services"].values())})
    return out


def adopt(project, slug=None, environ=None):
    """(stack or None, [problem text], [services kept as they run]); ValueError
    (or EngineError) in the user's terms when it cannot be adopted."""
    from stacks.engine import compose_projects, record_adoption
    from stacks.render import render_bundle

    slug = slug or project
    if slug != project:
        raise ImportError_(f"A stack's name is its Compose project's name: adopt {project!r} as {project!r} "
                           f"(with another name the panel would start a second copy beside it).")
    found = compose_projects().get(project)
    if not found:
        raise ImportError_(f"No Compose project named {project!r} runs on the engine.")
    if not found["working_dir"]:
        raise ImportError_(f"{project}: its containers do not say where its files are (no working_dir label).")
    files = found["config_files"] or []
    working_dir = Path(found["working_dir"])
    path = working_dir / files[0] if files else working_dir
    for missing in [p for p in [working_dir / f for f in files] or [working_dir] if not p.exists()]:
        raise ImportError_(f"{missing}: not found on this machine (the panel reads the project's files from where "
                           "it was started).")
    # Started with several -f files: merged as Compose merges them, by Compose.
    merged = merged_compose(working_dir, files) if len(files) > 1 else None
    stack, problems = import_project(read_path(path, merged), slug, environ=environ)
    if stack is None:
        return None, problems, []
    recorded = record_adoption(project, stack.directory, render_bundle(stack).compose)
    return stack, problems, recorded


ASK_PATIENCE = 30  # seconds for another host's worker to adopt a project there


def adopt_on(engine, project, slug=None, environ=None):
    """adopt() on `engine`, in this process: the project's files must be on this
    machine (the local engine's, or the worker's of another host)."""
    from stacks.engine.connect import using

    with using(engine):
        stack, problems, kept = adopt(project, slug, environ=environ)
    if stack is not None and stack.engine_id != engine.pk:
        Stack.objects.filter(pk=stack.pk).update(engine=engine)
        stack.engine = engine
    return stack, problems, kept


def adopt_anywhere(engine, project, slug=None, environ=None):
    """adopt_on() here for the local engine; for an engine on another host, by the
    worker that serves it there (tasks.adopt_project), where the project's files
    are, within ASK_PATIENCE seconds. ValueError in the user's terms when no
    worker answers or the adoption is refused."""
    if not engine.docker_host:
        return adopt_on(engine, project, slug, environ)
    import json

    from stacks.seams import broker
    from stacks.tasks import adopt_project

    try:
        answer = broker.ask_a_worker(lambda request_id: adopt_project.apply_async(
            (engine.pk, project, slug, request_id), queue=engine.queue, expires=ASK_PATIENCE + 60), ASK_PATIENCE)
    except broker.BrokerError as exc:
        raise ValueError(f"Cannot reach the workers: {exc}") from None
    if answer is None:
        raise ValueError(f"No worker of engine {engine.name} answered within {ASK_PATIENCE}s: the project's files "
                         f"are on that host, so its worker adopts it (celery -A controlpanel worker -Q {engine.queue}).")
    if "error" in answer:
        raise ValueError(answer["error"])
    stack = Stack.objects.filter(slug=answer["slug"]).first() if answer.get("slug") else None
    return stack, json.loads(answer["problems"]), json.loads(answer["kept"])
