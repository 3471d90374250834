"""Operations on what already runs, outside a plan: stop, down, restart one
service, status, log streams. Compose labels find the containers, so containers started
by hand with docker-compose are seen too."""
import json

from stacks.engine import labels as L
from stacks.engine import parallel
from stacks.engine.base import status_row
from stacks.engine.client import EngineError, api, image_id, translated
from stacks.engine.connect import host_name, streaming
from stacks.engine.plan import STATE_FILE, adoption_digest
from stacks.engine.project import remove_networks_and_volumes
from stacks.engine.service import file_digests, sha
from stacks.lib import safe_paths
from stacks.lib.composefile import image_of

STOP_TIMEOUT = 10


def _project_containers(engine, project):
    return engine.containers(all=True, filters={"label": [f"{L.PROJECT}={project}", f"{L.ONEOFF}=False"]})


def _service_containers(engine, project, service):
    return [c for c in _project_containers(engine, project) if c["Labels"].get(L.SERVICE) == service]


def _name(c):
    return c["Names"][0].lstrip("/")


def _each_container(containers, fn, report):
    """fn(container) for each, in parallel as docker-compose does; reports from the threads."""
    progress = parallel.Progress(report)
    by_id = {c["Id"]: c for c in containers}
    parallel.each(list(by_id), lambda cid: fn(by_id[cid], progress), progress)


@translated("stop")
def stop(project, report):
    engine = api()

    def stop_one(c, progress):
        engine.stop(c["Id"], timeout=STOP_TIMEOUT)
        progress(f"Stopped {_name(c)}")

    _each_container([c for c in _project_containers(engine, project) if c["State"] == "running"], stop_one, report)


@translated("down")
def down(project, report, volumes=False):
    engine = api()

    def remove(c, progress):
        engine.remove_container(c["Id"], force=True, v=False)
        progress(f"Removed {_name(c)}")

    _each_container(_project_containers(engine, project), remove, report)
    remove_networks_and_volumes(engine, f"{L.PROJECT}={project}", volumes, report)


@translated("restart")
def restart_service(project, service, report):
    engine = api()
    found = _service_containers(engine, project, service)
    if not found:
        raise EngineError(f"No container of service {service} exists: deploy the stack first.", permanent=True)
    for c in found:
        engine.restart(c["Id"], timeout=STOP_TIMEOUT)
        report(f"Restarted {_name(c)}")


@translated("status")
def stack_status(project):
    """Containers of a project as rows, including ones started by hand with Compose;
    `node` is the host of the engine they run on."""
    engine = api()
    rows = []
    containers = sorted(_project_containers(engine, project), key=lambda c: c["Names"][0])
    node = host_name(engine) if containers else ""
    for c in containers:
        lab = c["Labels"]
        info = engine.inspect_container(c["Id"])
        state = info["State"]
        ports = ", ".join(f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
                          for p in c.get("Ports", []) if p.get("PublicPort"))
        error = state.get("Error") or (f"exit code {state['ExitCode']}" if c["State"] == "exited"
                                       and state.get("ExitCode") else "")
        health = state.get("Health") or {}
        rows.append(status_row(
            id=c["Id"][:12], name=_name(c), service=lab.get(L.SERVICE, ""), number=lab.get(L.NUMBER, ""),
            state=c["State"], status=c["Status"], health=health.get("Status", ""),
            health_output=_health_output(health), restarts=info.get("RestartCount", 0), ports=ports,
            image=c["Image"], node=node, error=error,
            published=[[p.get("IP", ""), p["PublicPort"], p["PrivatePort"], p["Type"]]
                       for p in c.get("Ports", []) if p.get("PublicPort")]))
    return rows


def _health_output(health):
    """What the last health check of an unhealthy container printed (its exit
    code when it printed nothing), shortened: why Docker calls it unhealthy."""
    if health.get("Status") != "unhealthy" or not health.get("Log"):
        return ""
    last = health["Log"][-1]
    text = (last.get("Output") or "").strip() or f"exit code {last.get('ExitCode')}"
    return text if len(text) <= 500 else text[:500] + "…"


def log_streams(project, service, tail=100, follow=False):
    """[(container name, its log stream of byte chunks)] for every container of a
    service, by replica number; with follow, each open until its container stops."""
    engine = streaming().api if follow else api()
    found = translated("logs")(_service_containers)(engine, project, service)
    if not found:
        raise EngineError(f"No container of service {service} exists: deploy the stack first.", permanent=True)
    found.sort(key=lambda c: int(c["Labels"].get(L.NUMBER) or 0))
    logs = translated("logs")(engine.logs)
    return [(_name(c), logs(c["Id"], tail=tail, timestamps=True, stream=True, follow=follow)) for c in found]


def compose_projects():
    """Projects running on the engine, from their containers' Compose labels:
    {project: {"working_dir", "config_files": [paths], "services": {name: [container dicts]}}}."""
    engine = api()
    projects = {}
    for c in translated("listing projects")(engine.containers)(all=True, filters={"label": L.PROJECT}):
        lab = c["Labels"] or {}
        if lab.get(L.ONEOFF, "False") != "False":
            continue
        p = projects.setdefault(lab[L.PROJECT], {"working_dir": lab.get(L.WORKING_DIR, ""),
                                                 "config_files": [f for f in lab.get(L.CONFIG_FILES, "").split(",")
                                                                  if f],
                                                 "services": {}})
        p["services"].setdefault(lab.get(L.SERVICE, ""), []).append(c)
    return projects


@translated("adopt")
def record_adoption(project, directory, compose, files=None, in_place=False):
    """Remember, in the stack's state file, the config hash docker-compose put on
    each running service and what the panel renders for it now, so the next plan
    keeps those containers (engine.plan._adopted). A service that bind-mounts
    files from the project's directory is not recorded: the panel's containers
    mount them from the stack's directory, so it is recreated on the first deploy.
    In place (the stack's directory is the project's own), those services are
    recorded too, with the files they load, and every bundle file already on
    disk is kept as the team wrote it while the rows render the same
    (record_kept_files). Returns the services recorded."""
    engine = api()
    running = compose_projects().get(project, {}).get("services", {})
    path = directory / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    recorded = []
    for name, spec in compose["services"].items():
        containers = running.get(name) or []
        hashes = {c["Labels"].get(L.CONFIG_HASH) for c in containers}
        mounts = any(str(v).split(":")[0].startswith(".") for v in spec.get("volumes") or [])
        if not containers or len(hashes) != 1 or None in hashes or (mounts and not in_place):
            continue
        ref = image_of(project, name, spec)
        if {c["ImageID"] for c in containers} != {image_id(engine, ref)}:
            continue  # its image moved on since: the first deploy recreates it, as Compose would
        state[f"adopted:{name}"] = {"hash": hashes.pop(), "digest": adoption_digest(spec, image_id(engine, ref))}
        if in_place:  # what it loaded is what is on disk: no reload on the first deploy
            state[f"files:{name}"] = file_digests(spec, files or {}, compose)
        recorded.append(name)
    if in_place:
        state["kept-files"] = kept_files(directory, files or {})
    safe_paths.write_bundle(directory, {STATE_FILE: json.dumps(state, sort_keys=True)})
    return recorded


def kept_files(directory, files):
    """{path: digest of the rendered file} for each bundle file the directory
    already holds (a regular file): the plan leaves those as they are while the
    rows render the same (engine.plan._kept)."""
    kept = {}
    for path, text in files.items():
        try:
            target = safe_paths.contained(directory, path)
        except safe_paths.UnsafePath:
            continue
        if target.is_file() and not target.is_symlink():
            kept[path] = sha(text)
    return kept


def record_kept_files(directory, files):
    """A project imported in place (not running): its files stay as written."""
    path = directory / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    state["kept-files"] = kept_files(directory, files)
    safe_paths.write_bundle(directory, {STATE_FILE: json.dumps(state, sort_keys=True)})


def image_record(engine, reference, image):
    """What ran, in the agreed shape: the reference as rendered, the local image id
    and its registry digest for that repository (RepoDigests; "" for an image
    built or imported here)."""
    try:
        info = engine.inspect_image(image)
    except Exception:  # noqa: BLE001 — removed since: its id is still what ran
        info = {"Id": image if image.startswith("sha256:") else "", "RepoDigests": []}
    repo = reference.split("@")[0].rsplit(":", 1)[0] if ":" in reference.split("/")[-1] or "@" in reference \
        else reference
    digests = info.get("RepoDigests") or []
    digest = next((d for d in digests if d.split("@")[0] == repo), digests[0] if digests else "")
    return {"image": reference, "id": info.get("Id", ""), "digest": digest}


@translated("reading the images that ran")
def images_ran(desired):
    """{service: image_record} of what each service's containers run now."""
    engine = api()
    out = {}
    for c in _project_containers(engine, desired.project):
        service = c["Labels"].get(L.SERVICE, "")
        spec = desired.services.get(service)
        if spec is None or service in out:
            continue
        out[service] = image_record(engine, image_of(desired.project, service, spec), c["ImageID"])
    return out
