"""`manage.py stack VERB …`: the verbs scripts need."""
import json
import os
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stacks.accounts import audit
from stacks.engine.errors import EngineError
from stacks.lib.safe_paths import UnsafePath, write_bundle
from stacks.models import Busy, Deployment, Engine, GitSource, Service, Stack, StackVersion
from stacks.operations import follow

QUEUE_PATIENCE = 10  # seconds a --wait operation may sit in the queue before the command runs it itself
CLAIM_PATIENCE = 0.5  # seconds before asking whether any worker is there at all



def git_source_arguments(p):
    """The options saying which repository a stack follows, and how."""
    p.add_argument("--branch", default="main")
    p.add_argument("--path", default="", help="The project's directory inside the repository.")
    p.add_argument("--auto-deploy", action="store_true", help="Deploy each new commit (default: plan only).")
    p.add_argument("--poll", type=int, default=300, metavar="SECONDS", help="Poll interval (0: never).")
    p.add_argument("--token-env", metavar="VAR", help="The environment variable holding an https token "
                                                      "(kept as a secret, never printed).")
    p.add_argument("--username", default="", help="Sent with the token (default: git).")
    p.add_argument("--ssh-key", metavar="FILE", help="A deploy key for ssh:// (kept as a secret).")

class Command(BaseCommand):
    # Scripts call this often: no system checks (they import every URL and view),
    # and each verb imports only what it uses.
    requires_system_checks = []
    help = "Manage stacks: list, load-defaults, render, import, deploy, down, status, plan, test-rules, local-images."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("list", help="List stacks with their state.")
        p = sub.add_parser("load-defaults", help="Create the tutorial's three stacks (never overwrites edits).")
        p.add_argument("--local-images", action="store_true",
                       help="Point Prometheus, Alertmanager and node-exporter at images built by `stack local-images`.")
        sub.add_parser("load-demo", help="Create stack `demo`: Prometheus, Alertmanager and node-exporter on "
                                         "the local images, deployable with no registry.")
        p = sub.add_parser("render", help="Write a stack's bundle into a directory.")
        p.add_argument("slug")
        p.add_argument("--out", required=True)
        p = sub.add_parser("import", help="Create a stack from a Compose project: a directory, or a Compose "
                                          "file with the files beside it that its services use.")
        p.add_argument("file", metavar="PATH")
        p.add_argument("--name", required=True, help="The new stack's slug.")
        p.add_argument("--engine", help="The engine it runs on (default: local).")
        p.add_argument("--allow-host-access", action="store_true",
                       help="Approve, as the host's shell user, exactly the options of this project that reach "
                            "outside the stack (privileged, capabilities, host namespaces, binds outside its "
                            "directory…); refused without it.")
        p.add_argument("--in-place", action="store_true",
                       help="Keep the project's own directory as the stack's (its mounts stay where they are).")
        p.add_argument("--git", action="store_true", help="PATH is a Git repository URL (https://, ssh://, "
                                                          "file://): the stack follows its branch.")
        git_source_arguments(p)
        p = sub.add_parser("git-attach", help="Make an existing stack (an adopted one keeps its directory) follow "
                                              "a Git repository: the branch's commit becomes its definition, "
                                              "deployed only by the policy; nothing changes when they agree.")
        p.add_argument("slug")
        p.add_argument("url", metavar="URL")
        git_source_arguments(p)
        p.add_argument("--wait", action="store_true", help="Follow the deploy it starts (--auto-deploy).")
        p = sub.add_parser("sync", help="Fetch a Git stack's branch now; a new commit becomes its definition "
                                        "(and is deployed when its policy says so).")
        p.add_argument("slug")
        p.add_argument("--wait", action="store_true", help="Follow the deploy it starts.")
        p.add_argument("--force", action="store_true", help="Import the branch's commit again.")
        p = sub.add_parser("git", help="A Git stack's repository, branch, commits, policy and webhook.")
        p.add_argument("slug")
        p = sub.add_parser("move", help="Put a stack on another engine: its next deploy brings it up there "
                                        "and down on the old one, as one operation.")
        p.add_argument("slug")
        p.add_argument("--engine", required=True)
        p = sub.add_parser("plan", help="What a deploy would do now, changing nothing.")
        p.add_argument("slug")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("adopt", help="Take over a Compose project running on the engine: its files "
                                         "(from its containers' labels) become a stack; unchanged containers stay.")
        p.add_argument("project")
        p.add_argument("--name", help="The stack's slug: the project's name.")
        p.add_argument("--engine", help="The engine it runs on (default: local); on another host, that host's "
                                        "worker reads the project's files.")
        p = sub.add_parser("deploy", help="Deploy (reconcile) a stack.")
        p.add_argument("slug")
        p.add_argument("--plan", metavar="ID", help="Apply only the plan `stack plan` showed with this id: "
                                                    "refused, changing nothing, if the plan is another by then.")
        p.add_argument("--wait", action="store_true", help="Print progress; exit non-zero when it fails.")
        p = sub.add_parser("down", help="Stop and remove a stack's containers and networks.")
        p.add_argument("slug")
        p.add_argument("--volumes", action="store_true", help="Remove its named volumes too.")
        p.add_argument("--detach", "-d", action="store_true", help="Return once queued, without waiting.")
        p.add_argument("--wait", action="store_true", help="The default; kept for scripts.")
        p = sub.add_parser("delete", help="Bring a stack down (its named volumes too, unless kept), then remove "
                                          "its rows and its directory under STACKS_DIR. Its alerts stay.")
        p.add_argument("slug")
        p.add_argument("--yes", "-y", action="store_true", help="Do not ask.")
        p.add_argument("--keep-volumes", action="store_true", help="Leave its named volumes (and their data).")
        p = sub.add_parser("follow", help="An operation's progress (deploy, down…) until it ends; "
                                          "carried out from this process when no worker takes it.")
        p.add_argument("operation", type=int, metavar="ID")
        p = sub.add_parser("status", help="Containers of a stack, from the Docker engine.")
        p.add_argument("slug")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("logs", help="The last lines of a service's containers, optionally following.")
        p.add_argument("slug")
        p.add_argument("service")
        p.add_argument("--tail", type=int, default=100)
        p.add_argument("--follow", "-f", action="store_true")
        p = sub.add_parser("test-rules", help="Run the test cases of a stack's alert rules with promtool "
                                              "(exit non-zero when one fails).")
        p.add_argument("slug")
        p = sub.add_parser("history", help="Versions of a stack's definition, newest first: number, when, who, "
                                           "where from, and the rows changed.")
        p.add_argument("slug")
        p = sub.add_parser("rollback", help="Restore the definition a deployment applied, as a new version, and "
                                            "deploy it with the images that deployment ran.")
        p.add_argument("slug")
        p.add_argument("--to", required=True, type=int, metavar="DEPLOYMENT", dest="to")
        p.add_argument("--wait", action="store_true", help="Print progress; exit non-zero when it fails.")
        p = sub.add_parser("restore", help="Restore a version of a stack's definition, as a new version, "
                                           "without deploying.")
        p.add_argument("slug")
        p.add_argument("--version", required=True, type=int, metavar="N", dest="number")
        p = sub.add_parser("updates", help="The services whose image has an update, as the last check found "
                                           "(--check asks the registries now; --apply deploys them).")
        p.add_argument("slug")
        p.add_argument("--check", action="store_true", help="Ask the registries now.")
        p.add_argument("--apply", nargs="*", metavar="SERVICE", help="Deploy the updates found (of these "
                                                                      "services only): only they are recreated.")
        p.add_argument("--wait", action="store_true", help="With --apply: print progress; exit non-zero when it "
                                                           "fails.")
        p.add_argument("--json", action="store_true")
        sub.add_parser("local-images", help="Build local images of Prometheus, Alertmanager and "
                                            "node-exporter from Debian's binaries (no registry needed).")

    def handle(self, *args, verb, **opts):
        getattr(self, "do_" + verb.replace("-", "_"))(**opts)

    def _stack(self, slug):
        try:
            return Stack.named(slug)
        except Stack.DoesNotExist as exc:
            raise CommandError(str(exc)) from None

    def do_list(self, **opts):
        for stack in Stack.objects.prefetch_related("services"):
            last = stack.last_deployment()
            state = f"{last.action} {last.status} {last.created:%Y-%m-%d %H:%M}" if last else "never deployed"
            self.stdout.write(f"{stack.slug:<20} {stack.services.count():>3} services  {state}")

    def do_test_rules(self, slug, **opts):
        from stacks.validation import rule_tests  # start-up: jsonschema

        stack = self._stack(slug)
        try:
            failing = rule_tests.run_stack(stack)
        except rule_tests.RuleTestsUnavailable as exc:
            raise CommandError(str(exc)) from None
        for rule, message in failing:
            self.stderr.write(f"{rule.name}: FAILED\n{message}")
        total = rule_tests.count(stack)
        if failing:
            raise CommandError(f"{len(failing)} alert rule(s) of {slug} fail their tests.")
        self.stdout.write(f"{total} test case(s) of {slug}'s alert rules passed.")

    def do_load_defaults(self, local_images=False, **opts):
        from stacks.defaults import LOCAL_IMAGES, load_defaults  # start-up: PyYAML

        created = load_defaults()
        if local_images:
            for role, image in LOCAL_IMAGES.items():
                Service.objects.filter(stack__slug__in=created, role=role).update(image=image)
        if created:
            self.stdout.write(f"Created stacks: {', '.join(created)}")
        else:
            self.stdout.write("Default stacks already present; nothing changed.")

    def do_load_demo(self, **opts):
        if Stack.objects.filter(slug="demo").exists():
            self.stdout.write("Stack demo already present; nothing changed.")
            return
        from stacks.defaults.demo import mini_monitoring  # start-up: PyYAML

        stack = mini_monitoring(slug="demo", prom_port=19090, am_port=19093)
        Stack.objects.filter(pk=stack.pk).update(name="Demo (local images)", scrape_interval="15s",
                                                 evaluation_interval="15s")
        self.stdout.write("Created stack demo (Prometheus on 127.0.0.1:19090, Alertmanager on 127.0.0.1:19093).")

    def do_render(self, slug, out, **opts):
        from stacks.validation.checks import errors, validate_stack  # start-up: jsonschema

        stack = self._stack(slug)
        from stacks.render import render_bundle  # start-up: PyYAML

        bundle = render_bundle(stack)
        problems = validate_stack(stack, bundle)
        for problem in problems:
            self.stderr.write(str(problem))
        if errors(problems):
            raise CommandError(f"{slug}: {len(errors(problems))} problem(s); nothing written.")
        target = Path(out)
        try:
            write_bundle(target, bundle.files)  # `out` becomes 0700: the files carry secrets
        except UnsafePath as exc:
            raise CommandError(f"Nothing more written to {target}: {exc}") from None
        self.stdout.write(f"Wrote {len(bundle.files)} files to {target} (hash {bundle.hash[:12]}).")

    def _engine(self, name):
        engine = Engine.objects.filter(name=name).first()
        if engine is None:
            known = ", ".join(Engine.objects.values_list("name", flat=True))
            raise CommandError(f"No engine named {name!r} (engines: {known}).")
        return engine

    def do_import(self, file, name, engine=None, allow_host_access=False, in_place=False, git=False, **opts):
        from stacks import versions  # start-up: PyYAML (the rendered files of a version)
        from stacks.adoption.importer import import_project  # start-up: importers
        from stacks.adoption.project_dir import read_path  # start-up: importers
        from stacks.render import render_bundle  # start-up: PyYAML

        if git:
            from stacks.management import git_commands  # start-up: the Git sync and the importers

            return git_commands.do_import(self, file, name, engine, allow_host_access, **opts)
        target = self._engine(engine) if engine else None
        try:
            # ${VAR}: the project's .env and this shell's environment, as docker-compose reads them.
            stack, problems = import_project(read_path(file), name, allow_host_access=allow_host_access,
                                             environ=dict(os.environ),
                                             directory=self._project_dir(file) if in_place else None)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for problem in problems:
            self.stderr.write(problem)
        if stack is None:
            raise CommandError(f"{file}: not imported, {sum(p.startswith('error') for p in problems)} error(s).")
        if target is not None:
            Stack.objects.filter(pk=stack.pk).update(engine=target)
        if in_place:  # the team's files stay as they are while the rows render the same
            from stacks.engine.operations import record_kept_files  # start-up: docker-py

            record_kept_files(stack.directory, render_bundle(stack).files)
        audit.record("import", f"stack {stack.slug}", detail=f"from {file} (command line)")
        versions.record(stack, StackVersion.CLI, note=f"import {file}")
        self.stdout.write(f"Imported {stack.services.count()} services into stack {stack.slug}.")

    @staticmethod
    def _project_dir(file):
        path = Path(file).resolve()
        return path if path.is_dir() else path.parent

    def do_move(self, slug, engine, **opts):
        stack, target = self._stack(slug), self._engine(engine)
        if target.pk == stack.engine_id:
            self.stdout.write(f"{slug} is on engine {target.name} already.")
            return
        if stack.moved_from_id is None and stack.deployments.filter(action="deploy").exists():
            stack.moved_from_id = stack.engine_id  # deployed there: the next deploy brings it down there
        if stack.moved_from_id == target.pk:
            stack.moved_from_id = None  # moving back before the move was deployed
        stack.engine = target
        stack.save(update_fields=["engine", "moved_from"])
        self.stdout.write(f"{slug} now belongs to engine {target.name}; deploy it to bring it up there"
                          + (f" and down on {stack.moved_from.name}." if stack.moved_from_id else "."))

    def do_adopt(self, project, name=None, engine=None, **opts):
        from stacks import versions  # start-up: PyYAML (the rendered files of a version)
        from stacks.tasks import adopt_anywhere  # start-up: Celery
        target = self._engine(engine or "local")
        try:
            # ${VAR}: the project's .env, and this shell's environment when adopted here.
            stack, problems, kept = adopt_anywhere(target, project, name, environ=dict(os.environ))
        except (ValueError, EngineError) as exc:
            raise CommandError(str(exc)) from None
        for problem in problems:
            self.stderr.write(problem)
        if stack is None:
            raise CommandError(f"{project}: not adopted, {sum(p.startswith('error') for p in problems)} error(s).")
        versions.record(stack, StackVersion.CLI, note=f"adopt {project}")
        self.stdout.write(f"Adopted {project} as stack {stack.slug} ({stack.services.count()} services; "
                          f"kept as they run: {', '.join(kept) or 'none'}).")

    def _run_operation(self, stack, action, options, wait):
        from stacks.tasks import request_operation  # start-up: Celery

        try:
            deployment = request_operation(stack, action, options=options)
        except Busy as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{action} of {stack.slug} queued as operation #{deployment.pk}.")
        if wait:
            self._follow(deployment)

    def do_follow(self, operation, **opts):
        deployment = Deployment.objects.select_related("stack").filter(pk=operation).first()
        if deployment is None:
            raise CommandError(f"No operation #{operation}.")
        self._follow(deployment)

    def _follow(self, deployment):
        """Its progress until it ends; carried out here when no worker takes it."""
        from stacks.tasks import run_here, workers_alive  # start-up: Celery

        action, slug, runner = deployment.action, deployment.stack.slug, None

        def run_in_this_process(reason):
            self.stdout.write(f"{reason}: carrying it out from this process.")
            thread = threading.Thread(target=run_here, args=(deployment.pk,), daemon=True)
            thread.start()
            return thread

        shown = set()

        def show(step):
            if step.id not in shown:
                shown.add(step.id)
                self.stdout.write(f"  {step.at:%H:%M:%S} {step.message}")

        # An idle worker takes it at once: only when none has, ask whether one is there.
        done = follow.wait(deployment, CLAIM_PATIENCE, show, until_claimed=True)
        if not done and deployment.status == Deployment.QUEUED and not workers_alive():
            runner = run_in_this_process("No Celery worker answers")
        done = done or follow.wait(deployment, QUEUE_PATIENCE, show)
        if not done and runner is None and deployment.status == Deployment.QUEUED:
            runner = run_in_this_process(f"No worker took it within {QUEUE_PATIENCE}s")
        while not done:
            done = follow.wait(deployment, 3600, show)
        if runner is not None:
            runner.join()
        if deployment.status == Deployment.FAILED:
            raise CommandError(f"{action} of {slug} failed: {deployment.error}")
        self.stdout.write(self.style.SUCCESS(f"{action} of {slug} succeeded."))

    def do_plan(self, slug, json=False, **opts):
        from stacks.operations.planning import plan_deploy  # start-up: docker-py

        stack = self._stack(slug)
        try:
            bundle, problems, plan = plan_deploy(stack)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        from stacks.engine.plan import recorded  # start-up: docker-py

        shown = recorded(plan) if plan is not None else None
        if json:
            self.stdout.write(_json.dumps({"stack": slug, "bundle_hash": bundle.hash,
                                           "problems": [str(p) for p in problems], "plan": shown}, indent=2))
        else:
            for problem in problems:
                self.stderr.write(str(problem))
            if plan is not None:
                self.stdout.write(f"Plan {shown['id']} for {slug} (bundle {bundle.hash[:12]}); "
                                  f"`stack deploy {slug} --plan {shown['id']}` applies exactly this:")
                for line in plan.lines():
                    self.stdout.write(f"  {line}")
                for change in plan.files:
                    self.stdout.write(change.diff.rstrip("\n"))
        if plan is None:
            raise CommandError(f"{slug}: {len([p for p in problems if p.severity == 'error'])} problem(s); "
                               "a deploy would change nothing.")

    def do_deploy(self, slug, wait=False, plan=None, **opts):
        self._run_operation(self._stack(slug), "deploy", {"plan": plan} if plan else {}, wait)

    def do_down(self, slug, volumes=False, detach=False, **opts):
        # Waits by default, as `docker-compose down` does.
        self._run_operation(self._stack(slug), "down", {"volumes": volumes}, not detach)

    def do_delete(self, slug, yes=False, keep_volumes=False, **opts):
        stack = self._stack(slug)
        if not yes:
            if not os.isatty(0):
                raise CommandError(f"Deleting {slug} asks first: add --yes when no one can answer.")
            volumes = "kept" if keep_volumes else "removed with their data"
            answer = input(f"Delete stack {slug}? Its containers and networks are removed, its named volumes "
                           f"{volumes}, its rows and {stack.directory} deleted. Type its name to confirm: ")
            if answer.strip() != slug:
                raise CommandError("Not deleted.")
        self._run_operation(stack, "delete", {"keep_volumes": keep_volumes}, True)
        if Stack.objects.filter(slug=slug).exists():
            raise CommandError(f"{slug} was brought down but is still there; see its last operation.")
        self.stdout.write(self.style.SUCCESS(f"Deleted stack {slug}."))

    def do_status(self, slug, json=False, **opts):
        from stacks.engine.backend import get_backend  # start-up: docker-py
        from stacks.engine.connect import using  # start-up: docker-py
        stack = self._stack(slug)
        try:
            with using(stack.engine):
                rows = get_backend(stack.engine.backend).status(stack.slug)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        if json:
            self.stdout.write(_json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write(f"{slug}: no {'tasks' if stack.engine.swarm else 'containers'}.")
        for row in rows:
            node = f"{row['node']:<16} " if "node" in row else ""  # Swarm: the node running each task
            self.stdout.write(f"{row['name']:<40} {row['service']:<16} {node}{row['state']:<10} "
                              f"{row['health'] or '-':<10} {row['ports']}")
        last = (stack.deployments.filter(action="deploy", status=Deployment.SUCCEEDED).exclude(images={})
                .select_related("version").order_by("-id").first())
        if rows and last is not None:  # what the last deploy ran, while it runs
            self.stdout.write(f"Deployment #{last.pk}" + (f" (v{last.version.number})" if last.version else "")
                              + " ran:")
            for service, ran in sorted(last.images.items()):
                self.stdout.write(f"  {service:<16} {ran['image']}  {ran['digest'] or ran['id']}")

    def do_logs(self, slug, service, tail=100, follow=False, **opts):
        """A Compose service's first container, or every task of a Swarm service;
        with --follow, new lines as they come until it stops (or Ctrl-C)."""
        from stacks.engine.backend import get_backend  # start-up: docker-py
        from stacks.engine.connect import using  # start-up: docker-py
        stack = self._stack(slug)
        if not stack.services.filter(name=service).exists():
            raise CommandError(f"Stack {slug} has no service {service!r}.")
        try:
            with using(stack.engine):
                for line in get_backend(stack.engine.backend).follow_logs(slug, service, tail=tail, follow=follow):
                    self.stdout.write(line)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            pass

    def do_history(self, slug, **opts):
        from stacks import versions  # start-up: PyYAML (the rendered files of a version)
        stack = self._stack(slug)
        for version in stack.versions.select_related("author").order_by("-number"):
            rows, _files = versions.diff(version)
            deployed = ", ".join(f"#{pk}" for pk in version.deployments.order_by("id").values_list("pk", flat=True))
            self.stdout.write(f"{version.number:<4} {version.created:%Y-%m-%d %H:%M:%S}  "
                              f"{str(version.author or 'script'):<12} {version.where:<28} "
                              + ("; ".join(rows[:4]) + (f" (+{len(rows) - 4})" if len(rows) > 4 else "")
                                 if rows else "no row changed")
                              + (f"  deployed by {deployed}" if deployed else ""))

    def do_restore(self, slug, number, **opts):
        from stacks import versions  # start-up: PyYAML (the rendered files of a version)
        stack = self._stack(slug)
        version = stack.versions.filter(number=number).first()
        if version is None:
            raise CommandError(f"{slug} has no version {number} (latest: "
                               f"{stack.versions.order_by('-number').values_list('number', flat=True).first()}).")
        if GitSource.objects.filter(stack=stack).exists():
            raise CommandError(f"{slug} follows Git: edit it in Git (`stack rollback` pins it until the next commit).")
        new = versions.restore(stack, version, StackVersion.RESTORE)
        audit.record("restore", f"stack {slug}", detail=f"v{number} as v{new.number} (command line)")
        self.stdout.write(f"Restored v{number} of {slug} as v{new.number}; nothing was deployed "
                          f"(`stack deploy {slug}` applies it).")

    def do_rollback(self, slug, to, wait=False, **opts):
        from stacks.operations.rollback import target_of  # start-up: docker-py

        stack = self._stack(slug)
        try:
            target = target_of(stack, to)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Rolling {slug} back to #{target.pk} (v{target.version.number}).")
        self._run_operation(stack, "deploy", {"rollback_to": target.pk}, wait)

    def do_sync(self, slug, wait=False, force=False, **opts):
        from stacks.management import git_commands  # start-up: the Git sync and the importers

        git_commands.do_sync(self, self._stack(slug), wait, force)

    def do_git_attach(self, slug, url, wait=False, **opts):
        from stacks.management import git_commands  # start-up: the Git sync and the importers

        git_commands.do_attach(self, self._stack(slug), url, wait, **opts)

    def do_git(self, slug, **opts):
        from stacks.management import git_commands  # start-up: the Git sync and the importers

        git_commands.do_git(self, self._stack(slug))

    def do_updates(self, slug, check=False, apply=None, wait=False, json=False, **opts):
        from stacks.monitoring import updates  # start-up: requests, for the registries

        stack = self._stack(slug)
        if check:
            updates.check([stack])
        found = updates.updates_of(stack)
        if apply is not None:
            try:
                pins = updates.pins(stack, apply)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if not pins:
                raise CommandError(f"{slug}: no update to apply (a tag that moved; newer version tags are "
                                   "applied by editing the service's image).")
            self._run_operation(stack, "deploy", {"update": pins}, wait)
            return
        if json:
            self.stdout.write(_json.dumps([{
                "service": i.service, "image": i.reference, "ran": i.ran, "latest": i.latest,
                "update": i.available, "moved": i.moved, "newer_tags": i.newer_tags, "policy": i.policy,
                "rolled_back": i.rolled_back,
                "error": i.error, "checked": i.checked.isoformat() if i.checked else None} for i in found], indent=2))
            return
        for i in found:
            if i.policy == "off":
                state = "not checked (policy off)"
            elif i.error:
                state = f"check failed: {i.error}"
            elif i.available:
                state = "update available: " + "; ".join(
                    ([f"{i.reference} now {i.latest[:19]}"] if i.moved else [])
                    + ([f"newer tags {', '.join(i.newer_tags[:5])}"] if i.newer_tags else [])
                    + (["rolled back from it: applied by hand only"] if i.rolled_back else []))
            elif not i.ran:
                state = "built or imported here (no registry)"
            elif i.checked is None:
                state = "not checked yet"
            else:
                state = "up to date"
            self.stdout.write(f"{i.service:<16} {i.reference:<48} {(i.ran_digest or '-')[:19]:<19}  {state}")
        if not found:
            self.stdout.write(f"{slug}: no deployment recorded the images it ran yet.")

    def do_local_images(self, **opts):
        from stacks.engine.local_images import build_local_images  # start-up: docker-py

        for tag in build_local_images(log=self.stdout.write):
            self.stdout.write(f"built {tag}")


_json = json
