"""Applying a plan to the Docker engine, exactly as planned: pulls (nothing has
changed if one fails), files, builds, networks and volumes, orphans, then every
service along depends_on (independent ones in parallel), reloads, and networks
no service uses. Every step is reported through `report(message, kind)`."""
import json
import os
import time

from stacks.engine import client as docker_seam
from stacks.engine import labels as L
from stacks.engine import parallel
from stacks.engine.client import EngineError, explain
from stacks.engine.container import container_config
from stacks.engine.plan import STATE_FILE, existing_from_labels
from stacks.engine.project import network_options, volume_options
from stacks.engine.reload import ReloadError, reload_any
from stacks.engine.service import applied_record, config_hash, hash_inputs
from stacks.lib import safe_paths
from stacks.lib.composefile import dependency_graph, depends_on, image_of

HEALTH_TIMEOUT = float(os.environ.get("PANEL_HEALTH_TIMEOUT", "180"))
HEALTH_POLL = 0.1  # seconds between readiness checks of a dependency (Compose 1.x's pace)
STOP_TIMEOUT = 10
PULLS_AT_ONCE = 5  # as Compose


def write_files(plan, report):
    """The plan's changed files, written inside the stack's directory only
    (stacks.lib.safe_paths: resolved paths, no symlink followed)."""
    if not plan.files:
        return
    try:
        changed = safe_paths.write_bundle(plan.desired.directory,
                                          {f.path: plan.desired.files[f.path] for f in plan.files})
    except safe_paths.UnsafePath as exc:
        raise EngineError(f"Refused to write the bundle: {exc}", permanent=True) from None
    if changed:
        report(f"Wrote {len(changed)} changed file(s): " + ", ".join(changed[:10])
               + ("…" if len(changed) > 10 else ""))


class Applier:
    def __init__(self, plan, report):
        self.plan = plan
        self.desired = plan.desired
        self.project = plan.project
        self.services = self.desired.services
        self.report = parallel.Progress(report)
        self.api = docker_seam.api()
        self.hashes = dict(plan.hashes)
        self.applied = dict(plan.applied)
        self.precreated = {}  # (service, number) → (container id, name)

    # --- images, files, networks, volumes ---------------------------------------
    def check_images(self):
        for step in self.plan.images:
            if step.kind == "missing":
                raise EngineError(f"Image {step.target} that service {step.key} ran is no longer on the engine: "
                                  "it cannot be run again.", permanent=True)

    def check_volumes(self):
        for step in self.plan.volumes:
            if step.kind == "missing":
                raise EngineError(f"Volume {step.target} is external and does not exist: create it first.",
                                  permanent=True)

    def pull_images(self):
        pulls = [s.target for s in self.plan.images if s.kind == "pull"]
        parallel.each(pulls, lambda image: docker_seam.pull(self.api, image, self.report, self.desired.auth), self.report,
                      PULLS_AT_ONCE)

    def build_images(self):
        for step in self.plan.images:
            if step.kind != "build":
                continue
            build = self.services[step.key]["build"]
            directory = self.desired.directory
            context = (directory / build.get("context", ".")).resolve()
            if not safe_paths.is_inside(directory, build.get("context", ".")):  # resolved, not a string prefix
                raise EngineError(f"Build context {build.get('context')} is outside the stack's directory.",
                                  permanent=True)
            self.report(f"Building {step.target} from {build.get('context')}")
            docker_seam.build(self.api, step.target, context, build.get("dockerfile"), self.report,
                              args=build.get("args"), target=build.get("target"))

    def rehash_new_images(self):
        """Services whose image was just pulled or built carry its id in their hash."""
        fresh = {s.target for s in self.plan.images}
        for name, spec in self.services.items():
            ref = self.desired.pins.get(name) or image_of(self.project, name, spec)
            if ref in fresh:
                image_id = docker_seam.image_id(self.api, ref)
                role = self.desired.roles.get(name)
                self.hashes[name] = config_hash(spec, image_id,
                                               hash_inputs(spec, role, self.desired.files, self.desired.compose))
                self.applied[name] = applied_record(spec, image_id, role, self.desired.files, self.desired.compose)

    def write_files(self):
        write_files(self.plan, self.report)

    @docker_seam.translated("networks")
    def create_networks(self):
        for step in self.plan.networks:
            if step.kind != "create":
                continue
            spec = (self.desired.compose.get("networks") or {}).get(step.key) or {}
            labels = {} if spec.get("external") else {L.PROJECT: self.project, L.NETWORK: step.key,
                                                      L.VERSION: L.COMPOSE_VERSION}
            self.api.create_network(step.target, check_duplicate=True, **network_options(spec, labels))
            self.report(f"Created {'shared ' if spec.get('external') else ''}network {step.target}")

    @docker_seam.translated("volumes")
    def create_volumes(self):
        for step in self.plan.volumes:
            if step.kind == "create":
                spec = (self.desired.compose.get("volumes") or {}).get(step.key) or {}
                self.api.create_volume(step.target, **volume_options(spec, {
                    L.PROJECT: self.project, L.VOLUME: step.key, L.VERSION: L.COMPOSE_VERSION}))
                self.report(f"Created volume {step.target}")

    def remove_networks(self):
        for step in self.plan.networks:
            if step.kind == "remove":
                try:
                    docker_seam.translated("")(self.api.remove_network)(step.target)
                    self.report(f"Removed network {step.target} (no service uses it)")
                except EngineError as exc:
                    self.report(f"Kept network {step.target}: {exc}", "error")

    # --- containers -----------------------------------------------------------------
    def create(self, name, number):
        try:
            cfg = container_config(self.project, self.desired.directory, self.desired.compose, name, number,
                                   self.hashes[name], self.applied[name])
            cfg["image"] = self.desired.pins.get(name) or cfg["image"]
            host_config = self.api.create_host_config(**cfg["host_config"])
            networking = self.api.create_networking_config(
                {cfg["primary_network"]: self.api.create_endpoint_config(aliases=cfg["aliases"])}
            ) if cfg["primary_network"] else None
            created = self.api.create_container(cfg["image"], name=cfg["name"], host_config=host_config,
                                                networking_config=networking, **cfg["create"])
            for net in cfg["extra_networks"]:
                self.api.connect_container_to_network(created["Id"], net, aliases=cfg["aliases"])
        except Exception as exc:  # noqa: BLE001 — said in the user's terms
            raise explain(exc, f"service {name}") from None
        if cfg["not_applied"] and number == 1:
            self.report(f"service {name}: kept but not applied by the panel's engine: "
                        + ", ".join(cfg["not_applied"]) + " (docker-compose applies them from the rendered file)",
                        "info")
        return created["Id"], cfg["name"]

    def start(self, container_id, label):
        try:
            self.api.start(container_id)
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"Cannot start {label}") from None

    def precreate(self):
        """Create every new container up front, in parallel (as Compose v2 does):
        only starting them has to follow depends_on."""
        todo = [(a.service, a.number) for a in self.plan.actions if a.kind == "create"]
        for key, created in parallel.each(todo, lambda key: self.create(*key), self.report).items():
            self.precreated[key] = created
            self.report(f"Created {created[1]}")

    def containers_of(self, service):
        found = self.api.containers(all=True, filters={"label": [f"{L.PROJECT}={self.project}",
                                                                 f"{L.SERVICE}={service}"]})
        return existing_from_labels(found)

    def wait_for(self, dependency, condition):
        if condition == "service_started":
            return
        deadline = time.monotonic() + HEALTH_TIMEOUT
        self.report(f"Waiting for {dependency} to be {'healthy' if condition == 'service_healthy' else 'completed'}")
        while True:
            states = [self.api.inspect_container(c.id)["State"] for c in self.containers_of(dependency)]
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
            time.sleep(HEALTH_POLL)

    def converge_service(self, name):
        for dep, cond in sorted(depends_on(self.services[name]).items()):
            self.wait_for(dep, cond)
        actions = list(self.plan.for_service(name))
        # New replicas start together, as Compose scales (they were created up front).
        parallel.each([a.number for a in actions if a.kind == "create"], lambda n: self.start_new(name, n))
        for action in actions:
            if action.kind == "recreate":
                self.recreate(name, action)
            elif action.kind == "start":
                self.start(action.container.id, action.container.name)
                self.report(f"Started {action.container.name}")
            elif action.kind == "remove":
                self.remove(action.container, action.reason)
        for reload in self.plan.reloads:
            if reload.service == name:
                self.reload(reload)

    def start_new(self, name, number):
        cid, cname = self.precreated.pop((name, number), None) or self.create(name, number)
        self.start(cid, cname)
        self.report(f"Started {cname}")

    def recreate(self, name, action):
        old = action.container
        try:
            self.api.stop(old.id, timeout=STOP_TIMEOUT)
            self.api.rename(old.id, f"{old.id[:12]}_{old.name}")
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"Cannot stop {old.name}") from None
        try:
            cid, cname = self.create(name, action.number)
            self.start(cid, cname)
        except Exception:
            # Put the previous container back so the service keeps running.
            self.api.rename(old.id, old.name)
            self.api.start(old.id)
            raise
        self.api.remove_container(old.id, v=False, force=True)
        self.report(f"Recreated {cname} ({action.reason or 'configuration changed'})")

    def remove(self, container, why):
        try:
            self.api.remove_container(container.id, force=True)
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"Cannot remove {container.name}") from None
        self.report(f"Removed {container.name}" + (f" ({why})" if why else ""))

    def reload(self, reload):
        for container in self.containers_of(reload.service):
            info = self.api.inspect_container(container.id)
            addresses = [n["IPAddress"] for n in (info["NetworkSettings"].get("Networks") or {}).values()
                         if n.get("IPAddress")]
            try:
                if reload_any(addresses, reload.role):
                    self.report(f"Reloaded {reload.service} configuration (POST /-/reload)")
                    continue
            except ReloadError as exc:
                self.put_back(reload, addresses)
                raise EngineError(f"{reload.service} refused the new configuration ({exc}); the previous files "
                                  f"({', '.join(reload.files)}) were written back and reloaded, so it keeps "
                                  "running with the last good configuration.", permanent=True) from None
            # Not reachable over HTTP from here (worker outside the network): SIGHUP
            # makes Prometheus and Alertmanager re-read their files the same way.
            self.api.kill(container.id, signal="SIGHUP")
            self.report(f"Reloaded {reload.service} configuration (SIGHUP)")

    def put_back(self, reload, addresses):
        """A refused reload: the files it was about to load are written back as
        they were, and reloaded, so a restart would not load the refused ones."""
        previous = {p: self.plan.previous_files[p] for p in reload.files
                    if self.plan.previous_files.get(p) is not None}
        if not previous:
            return
        safe_paths.write_bundle(self.desired.directory, previous)
        self.report(f"{reload.service} refused the new configuration: wrote back {', '.join(sorted(previous))}",
                    "error")
        try:
            if reload_any(addresses, reload.role):
                self.report(f"Reloaded {reload.service} with the previous configuration")
        except ReloadError as exc:
            self.report(f"{reload.service} refused the previous configuration too: {exc}", "error")

    def converge_all(self):
        try:
            parallel.run(dependency_graph(self.services), self.converge_service, self.report)
        except Exception as exc:
            # New containers that never got to start are not left behind.
            for cid, cname in self.precreated.values():
                self.api.remove_container(cid, force=True)
                self.report(f"Removed {cname}: not started because the deploy failed")
            raise explain(exc) from None

    def run(self):
        self.report("Plan: " + self.plan.summary())
        self.check_images()
        self.check_volumes()
        # Pull first: a pull that fails changes nothing, not even the files that
        # running containers mount. Builds need their context on disk.
        self.pull_images()
        self.write_files()
        self.build_images()
        self.rehash_new_images()
        self.create_networks()
        self.create_volumes()
        for orphan in [a for a in self.plan.actions if a.service not in self.services]:
            self.remove(orphan.container, orphan.reason)
        self.precreate()
        self.converge_all()
        self.remove_networks()
        safe_paths.write_bundle(self.desired.directory, {STATE_FILE: json.dumps(self.plan.state, sort_keys=True)})
        self.report.flush()
        return self.plan


def apply(plan, report):
    return Applier(plan, report).run()
