"""Adopting a Compose project that already runs on the engine (started with
docker-compose or docker compose): its files are found from its containers'
labels and imported as a directory is, in place (the project's directory stays
the stack's, so mount sources do not move); what runs is recorded so that the
first deploy leaves unchanged containers alone and rewrites no file whose
content it does not change."""
from pathlib import Path

from stacks.adoption.importer import ImportError_, import_project
from stacks.adoption.project_dir import merged_compose, read_path
from stacks.engine.connect import using
from stacks.engine.operations import compose_projects, record_adoption
from stacks.models import Stack
from stacks.render import render_bundle


def adopt(project, slug=None, environ=None):
    """(stack or None, [problem text], [services kept as they run]); ValueError
    (or EngineError) in the user's terms when it cannot be adopted."""
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
    # In place: the project's own directory stays the stack's, so its mounts do not move.
    stack, problems = import_project(read_path(path, merged), slug, environ=environ, directory=working_dir.resolve())
    if stack is None:
        return None, problems, []
    bundle = render_bundle(stack)
    recorded = record_adoption(project, stack.directory, bundle.compose, bundle.files, in_place=True)
    return stack, problems, recorded


def adopt_on(engine, project, slug=None, environ=None):
    """adopt() on `engine`, in this process: the project's files must be on this
    machine (the local engine's, or the worker's of another host)."""
    with using(engine):
        stack, problems, kept = adopt(project, slug, environ=environ)
    if stack is not None and stack.engine_id != engine.pk:
        Stack.objects.filter(pk=stack.pk).update(engine=engine)
        stack.engine = engine
    return stack, problems, kept
