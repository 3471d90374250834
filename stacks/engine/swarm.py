"""The Swarm backend: a stack as Swarm services, converted the way `docker stack
deploy` does (services, overlay networks, configs and secrets `{stack}_{key}`, all
labelled com.docker.stack.namespace), beside the Compose backend with the same
verbs. Conversion (swarm_spec.py) and plan (swarm_plan.py) are pure: SwarmPlan
from Desired and SwarmObserved; SwarmBackend.apply carries a plan out and follows
every task until it runs.

Files of the bundle travel as Swarm configs named by content hash (a file holding
a secret travels as a Swarm secret), so they reach whichever node runs a task; a
changed file is a new config, the service is updated to it, the old one removed.
Top-level `configs:`/`secrets:` a service names do the same, at the targets
Compose uses; top-level network and volume options are honoured as
`docker stack deploy` passes them (the network create, each volume mount's
driver config)."""
import json
import time

from stacks.engine.base import Logs, status_row
from stacks.engine.client import EngineError, api, image_id, registry_login, translated
from stacks.engine.connect import streaming
from stacks.engine.operations import image_record
from stacks.engine.project import remove_networks_and_volumes
from stacks.engine.swarm_plan import SwarmObserved, plan
from stacks.engine.swarm_spec import (
    FILE_PATH,
    NAMESPACE,
    SPEC_HASH,
    STACK_IMAGE,
    network_create_options,
    payload,
    spec_image,
)
from stacks.lib.composefile import image_of

CONVERGE_TIMEOUT = 180
POLL = 0.5
FAILED_STATES = {"failed", "rejected", "orphaned"}
# Task errors that are the daemon's own passing race, not the service's doing: a
# new task starts fine (moby/moby#48783: remounting the configs/secrets tmpfs
# read-only sometimes fails with EBUSY). A service that restarts by itself gets
# a new task from Swarm; one with restart "no" gets one new task from here.
ENGINE_RACES = ("unable to remount dir as readonly",)


# --- Apply ------------------------------------------------------------------------------

class SwarmBackend(Logs):
    name = "swarm"

    @translated("observing the swarm")
    def observe(self, desired):
        engine, label = api(), f"{NAMESPACE}={desired.project}"
        services = {}
        for s in engine.services(filters={"label": label}):
            spec = s["Spec"]
            services[spec["Name"]] = {"id": s["ID"], "version": s["Version"]["Index"], "spec": spec,
                                      "hash": spec.get("Labels", {}).get(SPEC_HASH, ""),
                                      "replicas": spec.get("Mode", {}).get("Replicated", {}).get("Replicas")}
        configs = {c["Spec"]["Name"]: c["ID"] for c in engine.configs(filters={"label": label})}
        secrets = {c["Spec"]["Name"]: c["ID"] for c in engine.secrets(filters={"label": label})}
        networks = {n["Name"] for n in engine.networks()}
        running, pinned = {}, {}
        for name, pin in desired.pins.items():
            full = f"{desired.project}_{name}"
            if full in services:
                running[full], pinned[pin] = image_id(engine, spec_image(services[full]["spec"])), image_id(engine, pin)
        return SwarmObserved(services, configs, secrets, networks, running, pinned)

    def plan(self, desired, observed):
        return plan(desired, observed)

    def apply(self, the_plan, report):
        engine, project = api(), the_plan.project
        report("Plan: " + the_plan.summary())
        if the_plan.missing_networks:
            raise EngineError(f"External network(s) {', '.join(the_plan.missing_networks)} do not exist: "
                              "create them first.", permanent=True)
        if not translated("swarm")(engine.info)().get("Swarm", {}).get("ControlAvailable"):
            raise EngineError("This engine is not a Swarm manager (run `docker swarm init`, or point the engine "
                              "row at a manager).", permanent=True)
        call = translated("swarm")
        self._login(engine, the_plan, report)
        for name in the_plan.networks:
            options = the_plan.network_specs.get(name) or network_create_options(project, {})
            call(engine.create_network)(name, **options)
            report(f"Created {options['driver']} network {name}")
        for obj, (kind, path, text) in sorted(the_plan.objects.items()):
            create = engine.create_secret if kind == "secret" else engine.create_config
            call(create)(obj, payload(text), labels={NAMESPACE: project, FILE_PATH: path})
            replaces = f", replacing {the_plan.rotations[obj]}" if obj in the_plan.rotations else ""
            report(f"Created {kind} {obj} for {path}{replaces}")
        label = f"{NAMESPACE}={project}"
        ids = {**{c["Spec"]["Name"]: c["ID"] for c in call(engine.configs)(filters={"label": label})},
               **{c["Spec"]["Name"]: c["ID"] for c in call(engine.secrets)(filters={"label": label})}}
        current = {s["Spec"]["Name"]: s for s in call(engine.services)(filters={"label": label})}
        watch = []
        for change in the_plan.services:
            full = f"{project}_{change.service}"
            if change.kind == "remove":
                call(engine.remove_service)(current[full]["ID"])
                report(f"Removed service {full}")
                continue
            if change.kind == "noop":
                continue
            spec = _with_ids(change.spec, ids)
            kwargs = dict(task_template=spec["TaskTemplate"], name=full, labels=spec["Labels"], mode=spec["Mode"],
                          update_config=spec["UpdateConfig"], rollback_config=spec["RollbackConfig"],
                          endpoint_spec=spec["EndpointSpec"])
            if change.kind == "create":
                sid = call(engine.create_service)(**kwargs)["ID"]
                report(f"Created service {full}")
                watch.append((full, sid, None))
            else:
                have = current[full]
                call(engine.update_service)(have["ID"], have["Version"]["Index"], fetch_current_spec=False, **kwargs)
                report(f"Updating service {full} ({change.reason})")
                watch.append((full, have["ID"], have["Version"]["Index"]))
        failures = [err for full, sid, before in watch for err in [self._converge(engine, full, sid, report)] if err]
        self._remove_unused(engine, project, the_plan.keep_objects, report)
        if failures:
            raise EngineError("; ".join(failures), permanent=True)
        return the_plan

    @staticmethod
    def _login(engine, the_plan, report):
        """The stored logins of the registries the services' images come from,
        handed to the nodes as `docker stack deploy --with-registry-auth` does:
        docker-py sends a login it holds as X-Registry-Auth on service create and
        update. A refused login stops the deploy before anything changes."""
        images = {spec_image(c.spec)
                  for c in the_plan.services if c.kind in ("create", "update", "scale")}
        for image in sorted(i for i in images if i):
            login = registry_login(engine, image, the_plan.auth)
            if login:
                report(f"Logged in to {login['serveraddress']} as {login['username']} (handed to the nodes)")

    def follow_tags(self, desired, report):
        """Swarm pins each service to a digest itself: no local tag to move."""

    @translated("reading the images that ran")
    def ran(self, desired):
        """{service: image_record} from each service's spec: the image its tasks
        run (as `docker stack deploy`, pinned to a digest when the registry gave one)."""
        engine, out = api(), {}
        for name, spec in desired.services.items():
            found = engine.services(filters={"name": f"{desired.project}_{name}"})
            if not found:
                continue
            image = found[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            record = image_record(engine, image_of(desired.project, name, spec), image)
            if "@sha256:" in image and not record["digest"]:
                named, digest = image.split("@", 1)
                last = named.rsplit("/", 1)
                last[-1] = last[-1].split(":")[0]  # the repository, without its tag
                record["digest"] = "/".join(last) + "@" + digest
            out[name] = record
        return out

    def _converge(self, engine, full, sid, report):
        """Follow a service's tasks until its update completes (or rolls back) and
        its tasks run; reports each task's state as it changes. An error text, or None."""
        seen, deadline, retried = {}, time.monotonic() + CONVERGE_TIMEOUT, None
        while time.monotonic() < deadline:
            svc = translated("swarm")(engine.inspect_service)(sid)
            status = svc.get("UpdateStatus") or {}
            tasks = translated("swarm")(engine.tasks)(filters={"service": sid})
            for t in sorted(tasks, key=lambda t: (t.get("Slot", 0), t["CreatedAt"])):
                state = t["Status"]["State"]
                if seen.get(t["ID"]) != state:
                    seen[t["ID"]] = state
                    node = _node_name(engine, t.get("NodeID"))
                    err = f": {t['Status']['Err']}" if t["Status"].get("Err") else ""
                    report(f"{full}.{t.get('Slot', '')} task {t['ID'][:10]} on {node}: {state}{err}", "progress")
            state = status.get("State", "")
            if state in ("rollback_completed", "rollback_paused", "paused"):
                message = status.get("Message", "")
                if state == "rollback_completed":
                    report(f"Update of {full} failed and was rolled back to its previous spec: {message}", "error")
                    return f"update of {full} failed and was rolled back ({message})"
                return f"update of {full} is {state}: {message}"
            if state in ("updating", "rollback_started"):
                time.sleep(POLL)
                continue
            want = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
            running = [t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
            if want is not None and len(running) >= want and (want == 0 or state in ("", "completed")):
                return None
            failed = [t for t in tasks if t["DesiredState"] != "running" and t["Status"]["State"] in FAILED_STATES
                      and t["ID"] not in (retried or ())]
            if failed and not running and svc["Spec"]["TaskTemplate"].get("RestartPolicy", {}).get("Condition") == "none":
                err = failed[0]["Status"].get("Err", "")
                if retried is None and any(race in err for race in ENGINE_RACES):
                    retried = {t["ID"] for t in failed}
                    report(f"{full}: the engine failed to start its task ({err}); starting a new one", "info")
                    template = dict(svc["Spec"]["TaskTemplate"], ForceUpdate=svc["Spec"]["TaskTemplate"]
                                    .get("ForceUpdate", 0) + 1)
                    translated("swarm")(engine.update_service)(sid, svc["Version"]["Index"], task_template=template,
                                                                fetch_current_spec=True)
                    continue
                return f"{full}: its task {failed[0]['Status']['State']} ({err})"
            time.sleep(POLL)
        return f"{full} did not converge within {CONVERGE_TIMEOUT}s"

    def _remove_unused(self, engine, project, keep, report):
        label = f"{NAMESPACE}={project}"
        for kind, listing, remove in (("config", engine.configs, engine.remove_config),
                                      ("secret", engine.secrets, engine.remove_secret)):
            for obj in translated("swarm")(listing)(filters={"label": label}):
                name = obj["Spec"]["Name"]
                if name in keep:
                    continue
                try:
                    translated("")(remove)(obj["ID"])
                    report(f"Removed unused {kind} {name}")
                except EngineError as exc:  # still used, e.g. by a spec rolled back to
                    report(f"Kept {kind} {name}: {exc}")

    # --- operations on what runs -------------------------------------------------------
    @translated("stop")
    def stop(self, project, report):
        """Stop keeps the services (their spec) and scales them to zero tasks."""
        engine = api()
        for s in engine.services(filters={"label": f"{NAMESPACE}={project}"}):
            spec = s["Spec"]
            if "Replicated" not in spec.get("Mode", {}):
                report(f"{spec['Name']} is a global service: it keeps running (down removes it)", "error")
                continue
            engine.update_service(s["ID"], s["Version"]["Index"], task_template=spec["TaskTemplate"],
                                  name=spec["Name"], labels=spec.get("Labels"), mode={"Replicated": {"Replicas": 0}},
                                  update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
                                  endpoint_spec=spec.get("EndpointSpec"), fetch_current_spec=False)
            report(f"Scaled {spec['Name']} to 0 tasks")

    @translated("down")
    def down(self, project, report, volumes=False):
        """As `docker stack rm`: services, then configs, secrets and networks."""
        engine, label = api(), f"{NAMESPACE}={project}"
        for s in engine.services(filters={"label": label}):
            engine.remove_service(s["ID"])
            report(f"Removed service {s['Spec']['Name']}")
        deadline = time.monotonic() + 60
        while engine.containers(all=True, filters={"label": label}) and time.monotonic() < deadline:
            time.sleep(POLL)  # tasks' containers go away before their networks can
        for c in engine.configs(filters={"label": label}):
            engine.remove_config(c["ID"])
            report(f"Removed config {c['Spec']['Name']}")
        for c in engine.secrets(filters={"label": label}):
            engine.remove_secret(c["ID"])
            report(f"Removed secret {c['Spec']['Name']}")
        remove_networks_and_volumes(engine, label, volumes, report)

    @translated("restart")
    def restart_service(self, project, service, report):
        engine = api()
        s = _service(engine, project, service)
        spec = s["Spec"]
        task = dict(spec["TaskTemplate"], ForceUpdate=(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1)
        engine.update_service(s["ID"], s["Version"]["Index"], task_template=task, name=spec["Name"],
                              labels=spec.get("Labels"), mode=spec.get("Mode"), update_config=spec.get("UpdateConfig"),
                              rollback_config=spec.get("RollbackConfig"), endpoint_spec=spec.get("EndpointSpec"),
                              fetch_current_spec=False)
        report(f"Restarting the tasks of {spec['Name']}")
        err = self._converge(engine, spec["Name"], s["ID"], report)
        if err:
            raise EngineError(err)

    @translated("status")
    def status(self, project):
        """Current tasks as rows (the shape stack_status gives), with the node each
        runs on, its desired state and an error: its own, or that of the last task
        of its slot that failed (why a pending task is being retried). `container`:
        the task's container when it runs on the node this engine is."""
        engine = api()
        nodes = {n["ID"]: n["Description"]["Hostname"] for n in engine.nodes()}
        # This engine answers for the containers of its own node's tasks. Asked each
        # time: a node that leaves a Swarm and joins another has a new id.
        here = engine.info()["Swarm"].get("NodeID", "")
        rows = []
        for s in engine.services(filters={"label": f"{NAMESPACE}={project}"}):
            name = s["Spec"]["Name"][len(project) + 1:]
            ports = ", ".join(f"{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']} ({p.get('PublishMode')})"
                              for p in s.get("Endpoint", {}).get("Ports") or [])
            published = [["", p["PublishedPort"], p["TargetPort"], p["Protocol"]]
                         for p in s.get("Endpoint", {}).get("Ports") or [] if p.get("PublishedPort")]
            tasks = sorted(engine.tasks(filters={"service": s["ID"]}), key=lambda t: t["CreatedAt"], reverse=True)
            for t in tasks:
                if t["DesiredState"] != "running":
                    continue
                st, slot = t["Status"], t.get("Slot") or t.get("NodeID", "")
                error = st.get("Err") or next(
                    (o["Status"].get("Err", "") for o in tasks if (o.get("Slot") or o.get("NodeID", "")) == slot
                     and o["DesiredState"] != "running" and o["Status"].get("Err")), "")
                rows.append(status_row(
                    id=t["ID"][:12], name=f"{s['Spec']['Name']}.{slot if t.get('Slot') else str(slot)[:12]}",
                    service=name, number=str(t.get("Slot", "")), state=st["State"], status=st.get("Message", ""),
                    ports=ports, published=published, image=s["Spec"]["Labels"].get(STACK_IMAGE, ""),
                    node=nodes.get(t.get("NodeID"), (t.get("NodeID") or "(unscheduled)")[:12]),
                    desired=t["DesiredState"], error=error,
                    container=(st.get("ContainerStatus") or {}).get("ContainerID", "")[:12]
                    if t.get("NodeID") == here else ""))
        return sorted(rows, key=lambda r: r["name"])

    @translated("logs")
    def log_stream(self, project, service, tail=100, follow=False):
        """The service's log stream, every task's lines (byte chunks) with the
        details that name their task; with follow, open until the service is removed."""
        engine = streaming().api if follow else api()
        return engine.service_logs(_service(engine, project, service)["ID"], details=True, stdout=True, stderr=True,
                                   tail=tail, timestamps=True, follow=follow, is_tty=False)

    def follow_logs(self, project, service, tail=100, follow=False):
        """Lines as `docker service logs` prints them: each names its task
        (SERVICE.SLOT@NODE), since a service's tasks write into one stream."""
        names = {}

        def task_name(task_id):
            if task_id not in names:  # a task not seen yet: ask once more for them all
                names.update(translated("logs")(_task_names)(api(), project, service))
                names.setdefault(task_id, task_id[:12])
            return names[task_id]

        for line in super().follow_logs(project, service, tail=tail, follow=follow):
            stamp, details, message = (line.split(" ", 2) + ["", ""])[:3]
            fields = dict(kv.split("=", 1) for kv in details.split(",") if "=" in kv)
            task = fields.get("com.docker.swarm.task.id")
            yield f"{stamp} {task_name(task)} | {message}" if task else line


def _service(engine, project, service):
    """A stack's Swarm service (the name filter matches prefixes: the exact one)."""
    full = f"{project}_{service}"
    found = [s for s in engine.services(filters={"name": full, "label": f"{NAMESPACE}={project}"})
             if s["Spec"]["Name"] == full]
    if not found:
        raise EngineError(f"No Swarm service {full}: deploy the stack first.", permanent=True)
    return found[0]


def _task_names(engine, project, service):
    """{task id: "SERVICE.SLOT@NODE"} of a service's tasks, as `docker service logs` names them."""
    s = _service(engine, project, service)
    nodes = {n["ID"]: n["Description"]["Hostname"] for n in engine.nodes()}
    return {t["ID"]: f"{s['Spec']['Name']}.{t.get('Slot') or t.get('NodeID', '')[:12]}@"
                     f"{nodes.get(t.get('NodeID'), '?')}"
            for t in engine.tasks(filters={"service": s["ID"]})}


def _with_ids(spec, ids):
    """The spec with the ids of the configs and secrets it names (known once created)."""
    spec = json.loads(json.dumps(spec))
    container = spec["TaskTemplate"]["ContainerSpec"]
    for key, name_key, id_key in (("Configs", "ConfigName", "ConfigID"), ("Secrets", "SecretName", "SecretID")):
        for ref in container.get(key, []):
            ref[id_key] = ids[ref[name_key]]
    return spec


_nodes = {}


def _node_name(engine, node_id):
    if not node_id:
        return "(unscheduled)"
    if node_id not in _nodes:
        try:
            _nodes[node_id] = engine.inspect_node(node_id)["Description"]["Hostname"]
        except Exception:  # noqa: BLE001 — a node that left: its id will do
            return node_id[:12]
    return _nodes[node_id]
