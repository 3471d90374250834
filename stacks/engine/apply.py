"""Applying a stack to the Docker engine: write the bundle, networks, volumes,
pull/build, then the convergence plan along depends_on. Every step is reported
through `report(message, kind)`, which the caller records on the Deployment."""
import json
import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import docker.errors
import requests

from stacks import safe_paths
from stacks.render.compose import unescape_dollars

from . import labels as L
from .client import EngineError, client, explain
from .plan import RELOADABLE_ROLES, config_hash, existing_from_labels, files_digest, plan

STATE_FILE = ".panel-state.json"
HEALTH_TIMEOUT = float(os.environ.get("PANEL_HEALTH_TIMEOUT", "180"))
STOP_TIMEOUT = 10


def container_name(project, service, number):
    return f"{project}_{service}_{number}"  # Compose 1.x naming, as Debian's docker-compose


def network_name(project, key, spec):
    return (spec or {}).get("name") or f"{project}_{key}"


def _duration_ns(text):
    if isinstance(text, (int, float)):
        return int(text * 1e9)
    units = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
    import re

    total = 0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text):
        total += float(value) * units[unit]
    return int(total)


class Deployer:
    def __init__(self, project, directory, compose, files, roles, report):
        self.project = project
        self.directory = Path(directory).resolve()
        self.compose = compose
        self.services = compose.get("services", {})
        self.files = files
        self.roles = roles  # {service: role}
        # Steps are recorded by the caller's thread only (database connections are
        # per thread); worker threads queue theirs and the main loop writes them.
        self._report = report
        self._main = threading.current_thread()
        self._queue = queue.Queue()
        self.docker = client()
        self.api = self.docker.api
        self.image_ids = {}
        self.precreated = {}  # (service, number) → (container id, name)

    def report(self, message, kind="info"):
        if threading.current_thread() is self._main:
            self.flush()
            self._report(message, kind)
        else:
            self._queue.put((message, kind))

    def flush(self):
        while True:
            try:
                message, kind = self._queue.get_nowait()
            except queue.Empty:
                return
            self._report(message, kind)

    # --- networks and volumes ---------------------------------------------------
    def _network_keys(self):
        keys = set()
        for spec in self.services.values():
            keys |= set(spec.get("networks") or ["default"])
        return sorted(keys)

    def ensure_networks(self):
        defs = self.compose.get("networks") or {}
        for key in self._network_keys():
            spec = defs.get(key) or {}
            name = network_name(self.project, key, spec)
            if any(n["Name"] == name for n in self.api.networks(names=[name])):
                continue  # names= matches by prefix too: compare exactly
            labels = {} if spec.get("external") else {L.PROJECT: self.project, L.NETWORK: key, L.VERSION: L.COMPOSE_VERSION}
            self.api.create_network(name, driver=spec.get("driver") or "bridge", labels=labels,
                                    check_duplicate=True)
            self.report(f"Created {'shared ' if spec.get('external') else ''}network {name}")

    def ensure_volumes(self):
        existing = {v["Name"] for v in (self.api.volumes().get("Volumes") or [])}
        for key, spec in (self.compose.get("volumes") or {}).items():
            spec = spec or {}
            name = key if spec.get("external") else f"{self.project}_{key}"
            if name in existing:
                continue
            if spec.get("external"):
                raise EngineError(f"Volume {name} is external and does not exist: create it first.", permanent=True)
            self.api.create_volume(name, labels={L.PROJECT: self.project, L.VOLUME: key, L.VERSION: L.COMPOSE_VERSION})
            self.report(f"Created volume {name}")

    # --- images ---------------------------------------------------------------
    def ensure_images(self, builds):
        """Pulls (builds=False) or builds (builds=True) the images that are missing."""
        todo = {}
        for name, spec in self.services.items():
            if bool(spec.get("build")) != builds:
                continue
            image = spec.get("image") or f"{self.project}_{name}"
            todo.setdefault(image, (name, spec))
        for image, (name, spec) in todo.items():
            try:
                self.image_ids[image] = self.api.inspect_image(image)["Id"]
                continue
            except docker.errors.ImageNotFound:
                pass
            if spec.get("build"):
                self.build(image, spec["build"])
            else:
                self.pull(image)
            self.image_ids[image] = self.api.inspect_image(image)["Id"]

    def pull(self, image):
        repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
        self.report(f"Pulling {image}")
        last = {}
        try:
            for event in self.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise EngineError(f"Cannot pull image {image}: {event['error']}", permanent=True)
                layer, status = event.get("id"), event.get("status", "")
                detail = event.get("progressDetail") or {}
                if layer and detail.get("total"):
                    pct = int(100 * detail.get("current", 0) / detail["total"])
                    if pct - last.get((layer, status), -100) >= 25 or (pct == 100 and last.get((layer, status)) != 100):
                        last[(layer, status)] = pct
                        self.report(f"{image} layer {layer}: {status} {pct}%", "progress")
                elif layer and status in ("Pull complete", "Already exists"):
                    self.report(f"{image} layer {layer}: {status}", "progress")
        except docker.errors.APIError as exc:
            raise EngineError(f"Cannot pull image {image}: {exc.explanation or exc} "
                              "(no such image, a private registry, or no network).", permanent=True) from None
        except requests.exceptions.RequestException as exc:
            raise EngineError(f"Cannot pull image {image}: registry unreachable ({exc.__class__.__name__}).") from None
        self.report(f"Pulled {image}")

    def build(self, image, build):
        context = (self.directory / build.get("context", ".")).resolve()
        if not safe_paths.is_inside(self.directory, build.get("context", ".")):
            raise EngineError(f"Build context {build.get('context')} is outside the stack's directory.", permanent=True)
        self.report(f"Building {image} from {build.get('context')}")
        for event in self.api.build(path=str(context), dockerfile=build.get("dockerfile") or None,
                                    tag=image, rm=True, decode=True):
            if "error" in event:
                raise EngineError(f"Build of {image} failed: {event['error'].strip()}", permanent=True)
            line = (event.get("stream") or "").strip()
            if line.startswith("Step "):
                self.report(f"{image}: {line}", "progress")

    # --- containers -----------------------------------------------------------
    def desired_hashes(self):
        hashes = {}
        for name, spec in self.services.items():
            image = spec.get("image") or f"{self.project}_{name}"
            digest = "" if self.roles.get(name) in RELOADABLE_ROLES else files_digest(spec, self.files)
            hashes[name] = config_hash(spec, self.image_ids.get(image, ""), digest)
        return hashes

    def existing(self):
        return existing_from_labels(self.api.containers(all=True, filters={"label": f"{L.PROJECT}={self.project}"}))

    def _binds(self, spec):
        binds = []
        vol_defs = self.compose.get("volumes") or {}
        for vol in spec.get("volumes") or []:
            parts = vol.split(":")
            if len(parts) == 1:
                continue  # anonymous volume: declared through `volumes` in create_container
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
            if source.startswith("./") or source == ".":
                source = str((self.directory / source).resolve())
            elif not source.startswith("/"):
                external = (vol_defs.get(source) or {}).get("external")
                source = source if external else f"{self.project}_{source}"
            binds.append(f"{source}:{target}:{mode}")
        return binds

    def _ports(self, spec, number):
        from stacks.models import parse_port

        exposed, bindings = [], {}
        for p in spec.get("ports") or []:
            ip, host, container, proto = parse_port(p)
            key = f"{container}/{proto}"
            exposed.append((int(container), proto) if proto != "tcp" else int(container))
            if host and "-" in host:
                lo, _hi = (int(x) for x in host.split("-"))
                host = str(lo + number - 1)  # replica n takes the n-th port of the range
            binding = (ip, int(host)) if ip and host else (ip, None) if ip else int(host) if host else None
            bindings.setdefault(key, []).append(binding)
        return exposed, bindings

    def _healthcheck(self, spec):
        hc = spec.get("healthcheck")
        if not hc or hc.get("disable"):
            return None
        out = {"test": hc.get("test")}
        for key, api_key in (("interval", "interval"), ("timeout", "timeout"), ("start_period", "start_period")):
            if key in hc:
                out[api_key] = _duration_ns(hc[key])
        if "retries" in hc:
            out["retries"] = int(hc["retries"])
        return out

    def create(self, name, number, desired_hash):
        spec = unescape_dollars(self.services[name])
        image = spec.get("image") or f"{self.project}_{name}"
        exposed, bindings = self._ports(spec, number)
        logging = spec.get("logging")
        restart = spec.get("restart")
        host_config = self.api.create_host_config(
            binds=self._binds(spec), port_bindings=bindings or None,
            restart_policy={"Name": restart} if restart and restart != "no" else None,
            log_config={"Type": logging["driver"], "Config": logging.get("options") or {}} if logging else None,
            extra_hosts=spec.get("extra_hosts") or None,
        )
        nets = spec.get("networks") or ["default"]
        defs = self.compose.get("networks") or {}
        primary = network_name(self.project, nets[0], defs.get(nets[0]))
        networking = self.api.create_networking_config({primary: self.api.create_endpoint_config(aliases=[name])})
        labels = {**(spec.get("labels") or {}),
                  L.PROJECT: self.project, L.SERVICE: name, L.NUMBER: str(number), L.ONEOFF: "False",
                  L.CONFIG_HASH: desired_hash, L.VERSION: L.COMPOSE_VERSION,
                  L.WORKING_DIR: str(self.directory), L.CONFIG_FILES: "docker-compose.yml"}
        cname = container_name(self.project, name, number)
        created = self.api.create_container(
            image, command=spec.get("command") or None, entrypoint=spec.get("entrypoint") or None,
            name=cname, environment=spec.get("environment") or None, labels=labels,
            ports=exposed or None, host_config=host_config, networking_config=networking,
            healthcheck=self._healthcheck(spec), user=spec.get("user") or None,
            hostname=None, detach=True,
        )
        for key in nets[1:]:
            # Extra networks are connected before start, with the service name as alias.
            self.api.connect_container_to_network(created["Id"], network_name(self.project, key, defs.get(key)),
                                                  aliases=[name])
        return created["Id"], cname

    def start(self, container_id, label):
        try:
            self.api.start(container_id)
        except docker.errors.APIError as exc:
            raise explain(exc, f"Cannot start {label}") from None

    def wait_for(self, dependency, condition):
        if condition == "service_started":
            return
        deadline = time.monotonic() + HEALTH_TIMEOUT
        self.report(f"Waiting for {dependency} to be {'healthy' if condition == 'service_healthy' else 'completed'}")
        while True:
            containers = [c for c in self.existing() if c.service == dependency]
            states = [self.api.inspect_container(c.id)["State"] for c in containers]
            if condition == "service_healthy":
                if any("Health" not in s for s in states):
                    raise EngineError(f"{dependency} has no healthcheck, so service_healthy can never be met.",
                                      permanent=True)
                statuses = [s["Health"]["Status"] for s in states]
                if states and all(st == "healthy" for st in statuses):
                    self.report(f"{dependency} is healthy")
                    return
                if any(st == "unhealthy" for st in statuses) or any(s["Status"] == "exited" for s in states):
                    raise EngineError(f"Dependency {dependency} is unhealthy: services that need it were not started.",
                                      permanent=True)
            else:
                if states and all(s["Status"] == "exited" for s in states):
                    if all(s["ExitCode"] == 0 for s in states):
                        return
                    raise EngineError(f"{dependency} exited with code {states[0]['ExitCode']}.", permanent=True)
            if time.monotonic() > deadline:
                raise EngineError(f"Timed out after {HEALTH_TIMEOUT:.0f}s waiting for {dependency}.")
            time.sleep(0.25)

    def converge_service(self, name, actions, hashes):
        for dep, cond in sorted((self.services[name].get("depends_on") or {}).items()):
            self.wait_for(dep, cond.get("condition", "service_started") if isinstance(cond, dict) else cond)
        touched = False
        for action in actions:
            label = f"{name}#{action.number}"
            if action.kind == "create":
                cid, cname = self.precreated.pop((name, action.number), None) or \
                    self.create(name, action.number, hashes[name])
                self.start(cid, cname)
                self.report(f"Started {cname}")
                touched = True
            elif action.kind == "recreate":
                old = action.container
                self.api.stop(old.id, timeout=STOP_TIMEOUT)
                self.api.rename(old.id, f"{old.id[:12]}_{old.name}")
                try:
                    cid, cname = self.create(name, action.number, hashes[name])
                    self.start(cid, cname)
                except Exception:
                    # Put the previous container back so the service keeps running.
                    self.api.rename(old.id, old.name)
                    self.api.start(old.id)
                    raise
                self.api.remove_container(old.id, v=False, force=True)
                self.report(f"Recreated {cname} (configuration changed)")
                touched = True
            elif action.kind == "start":
                self.start(action.container.id, label)
                self.report(f"Started {action.container.name}")
                touched = True
            elif action.kind == "remove":
                self.api.remove_container(action.container.id, force=True)
                self.report(f"Removed {action.container.name}")
        return touched

    def reload_if_needed(self, name, touched, state):
        digest = files_digest(self.services[name], self.files)
        key = f"files:{name}"
        if self.roles.get(name) in RELOADABLE_ROLES and not touched and digest and state.get(key) != digest:
            for c in [c for c in self.existing() if c.service == name]:
                self.reload(c, name)
        state[key] = digest

    def reload(self, container, name):
        info = self.api.inspect_container(container.id)
        port = 9090 if self.roles.get(name) == "prometheus" else 9093
        for net in (info["NetworkSettings"].get("Networks") or {}).values():
            if not net.get("IPAddress"):
                continue
            try:
                resp = requests.post(f"http://{net['IPAddress']}:{port}/-/reload", timeout=10)
            except requests.RequestException:
                continue
            if resp.status_code == 200:
                self.report(f"Reloaded {name} configuration (POST /-/reload)")
                return
            raise EngineError(f"{name} refused the new configuration (HTTP {resp.status_code}: "
                              f"{resp.text.strip()[:300]}); it keeps running with the previous one.", permanent=True)
        # Not reachable over HTTP from here (worker outside the network): SIGHUP
        # makes Prometheus and Alertmanager re-read their files the same way.
        self.api.kill(container.id, signal="SIGHUP")
        self.report(f"Reloaded {name} configuration (SIGHUP)")

    def precreate(self, the_plan, hashes):
        """Create every new container up front, in parallel (as Compose v2 does):
        only starting them has to follow depends_on."""
        todo = [a for a in the_plan.actions if a.kind == "create"]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            futures = {pool.submit(self.create, a.service, a.number, hashes[a.service]): a for a in todo}
            for fut in futures:
                a = futures[fut]
                try:
                    self.precreated[(a.service, a.number)] = fut.result()
                except Exception as exc:  # noqa: BLE001 — reported in the user's terms
                    raise explain(exc, f"service {a.service}") from None
                self.report(f"Created {self.precreated[(a.service, a.number)][1]}")

    def converge_all(self, the_plan, hashes, state):
        """Each service starts as soon as the services it depends on are done
        (Compose's order), independent ones in parallel."""
        deps = {name: set((spec.get("depends_on") or {}).keys()) & set(self.services)
                for name, spec in self.services.items()}
        done, running, failure = set(), {}, None
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(self.services)))) as pool:
            while len(done) < len(self.services) and not (failure and not running):
                if failure is None:
                    for name in sorted(self.services):
                        if name not in done and name not in running.values() and deps[name] <= done:
                            fut = pool.submit(self.converge_service, name, the_plan.for_service(name), hashes)
                            running[fut] = name
                if not running:
                    break
                finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                self.flush()
                for fut in finished:
                    name = running.pop(fut)
                    try:
                        touched = fut.result()
                    except Exception as exc:  # noqa: BLE001 — reported in the user's terms
                        failure = failure or explain(exc, f"service {name}")
                        continue
                    self.reload_if_needed(name, touched, state)
                    done.add(name)
        self.flush()
        if failure:
            # New containers that never got to start are not left behind.
            for cid, cname in self.precreated.values():
                self.api.remove_container(cid, force=True)
                self.report(f"Removed {cname}: not started because the deploy failed")
            raise failure

    def write_files(self):
        try:
            changed = safe_paths.write_bundle(self.directory, self.files)
        except safe_paths.UnsafePath as exc:
            raise EngineError(f"Refused to write the bundle: {exc}", permanent=True) from None
        if changed:
            self.report(f"Wrote {len(changed)} changed file(s): " + ", ".join(changed[:10])
                        + ("…" if len(changed) > 10 else ""))

    def run(self):
        # Pull first: a pull that fails changes nothing, not even the files that
        # running containers mount. Builds need their context on disk.
        self.ensure_images(builds=False)
        self.write_files()
        self.ensure_images(builds=True)
        self.ensure_networks()
        self.ensure_volumes()
        hashes = self.desired_hashes()
        the_plan = plan(self.project, self.services, hashes, self.existing())
        changes = the_plan.changes
        self.report("Plan: " + (", ".join(str(a) for a in changes) if changes else "nothing to change"))
        state_path = self.directory / STATE_FILE
        state = json.loads(state_path.read_text()) if state_path.is_file() and not state_path.is_symlink() else {}
        for orphan in [a for a in the_plan.actions if a.service not in self.services]:
            self.api.remove_container(orphan.container.id, force=True)
            self.report(f"Removed {orphan.container.name} (service no longer in the stack)")
        self.precreate(the_plan, hashes)
        self.converge_all(the_plan, hashes, state)
        safe_paths.write_file(self.directory, STATE_FILE, json.dumps(state, sort_keys=True))
        return the_plan


def deploy(project, directory, bundle, roles, report):
    return Deployer(project, directory, bundle.compose, bundle.files, roles, report).run()


def _project_containers(api, project):
    return api.containers(all=True, filters={"label": [f"{L.PROJECT}={project}", f"{L.ONEOFF}=False"]})


def stop(project, report):
    api = client().api
    for c in _project_containers(api, project):
        if c["State"] == "running":
            api.stop(c["Id"], timeout=STOP_TIMEOUT)
            report(f"Stopped {c['Names'][0].lstrip('/')}")


def down(project, report, volumes=False):
    api = client().api
    for c in _project_containers(api, project):
        api.remove_container(c["Id"], force=True, v=False)
        report(f"Removed {c['Names'][0].lstrip('/')}")
    for net in api.networks(filters={"label": f"{L.PROJECT}={project}"}):
        try:
            api.remove_network(net["Id"])
            report(f"Removed network {net['Name']}")
        except docker.errors.APIError as exc:
            report(f"Kept network {net['Name']}: {exc.explanation}", "error")
    if volumes:
        for vol in api.volumes(filters={"label": f"{L.PROJECT}={project}"}).get("Volumes") or []:
            api.remove_volume(vol["Name"], force=True)
            report(f"Removed volume {vol['Name']}")


def restart_service(project, service, report):
    api = client().api
    found = [c for c in _project_containers(api, project) if c["Labels"].get(L.SERVICE) == service]
    if not found:
        raise EngineError(f"No container of service {service} exists: deploy the stack first.", permanent=True)
    for c in found:
        api.restart(c["Id"], timeout=STOP_TIMEOUT)
        report(f"Restarted {c['Names'][0].lstrip('/')}")


def stack_status(project):
    """Containers of a project as rows, including ones started by hand with Compose."""
    api = client().api
    rows = []
    for c in sorted(_project_containers(api, project), key=lambda c: c["Names"][0]):
        lab = c["Labels"]
        info = api.inspect_container(c["Id"])
        ports = ", ".join(f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
                          for p in c.get("Ports", []) if p.get("PublicPort"))
        rows.append({
            "id": c["Id"][:12], "name": c["Names"][0].lstrip("/"), "service": lab.get(L.SERVICE, ""),
            "number": lab.get(L.NUMBER, ""), "state": c["State"], "status": c["Status"],
            "health": (info["State"].get("Health") or {}).get("Status", ""),
            "restarts": info.get("RestartCount", 0), "ports": ports, "image": c["Image"],
        })
    return rows


def container_logs(project, service, tail=100):
    api = client().api
    found = [c for c in _project_containers(api, project) if c["Labels"].get(L.SERVICE) == service]
    if not found:
        return ""
    return api.logs(found[0]["Id"], tail=tail, timestamps=True).decode(errors="replace")


def follow_logs(project, service, tail=100, follow=False):
    """Lines of a service's first container; with follow, until the container stops."""
    api = client().api
    found = [c for c in _project_containers(api, project) if c["Labels"].get(L.SERVICE) == service]
    if not found:
        raise EngineError(f"No container of service {service} exists: deploy the stack first.", permanent=True)
    stream = api.logs(found[0]["Id"], tail=tail, timestamps=True, stream=True, follow=follow)
    buffer = b""
    for chunk in stream:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if buffer:
        yield buffer.decode(errors="replace")
