"""`manage.py stack VERB …`: the verbs scripts need."""
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stacks.models import Deployment, Stack

QUEUE_PATIENCE = 10  # seconds a --wait operation may sit in the queue before the command runs it itself


class Command(BaseCommand):
    help = "Manage stacks: list, load-defaults, render, import, deploy, down, status, local-images."

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
        p = sub.add_parser("import", help="Create a stack from a docker-compose.yml.")
        p.add_argument("file")
        p.add_argument("--name", required=True, help="The new stack's slug.")
        p = sub.add_parser("deploy", help="Deploy (reconcile) a stack.")
        p.add_argument("slug")
        p.add_argument("--wait", action="store_true", help="Print progress; exit non-zero when it fails.")
        p = sub.add_parser("down", help="Stop and remove a stack's containers and networks.")
        p.add_argument("slug")
        p.add_argument("--volumes", action="store_true", help="Remove its named volumes too.")
        p.add_argument("--wait", action="store_true")
        p = sub.add_parser("status", help="Containers of a stack, from the Docker engine.")
        p.add_argument("slug")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("logs", help="The last lines of a service's containers, optionally following.")
        p.add_argument("slug")
        p.add_argument("service")
        p.add_argument("--tail", type=int, default=100)
        p.add_argument("--follow", "-f", action="store_true")
        sub.add_parser("local-images", help="Build local images of Prometheus, Alertmanager and "
                                            "node-exporter from Debian's binaries (no registry needed).")

    def handle(self, *args, verb, **opts):
        getattr(self, "do_" + verb.replace("-", "_"))(**opts)

    def _stack(self, slug):
        try:
            return Stack.objects.get(slug=slug)
        except Stack.DoesNotExist:
            known = ", ".join(Stack.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No stack named {slug!r} (stacks: {known}).") from None

    def do_list(self, **opts):
        for stack in Stack.objects.prefetch_related("services"):
            last = stack.last_deployment()
            state = f"{last.action} {last.status} {last.created:%Y-%m-%d %H:%M}" if last else "never deployed"
            self.stdout.write(f"{stack.slug:<20} {stack.services.count():>3} services  {state}")

    def do_load_defaults(self, local_images=False, **opts):
        from stacks.defaults import LOCAL_IMAGES, load_defaults

        created = load_defaults()
        if local_images:
            from stacks.models import Service

            for role, image in LOCAL_IMAGES.items():
                Service.objects.filter(stack__slug__in=created, role=role).update(image=image)
        if created:
            self.stdout.write(f"Created stacks: {', '.join(created)}")
        else:
            self.stdout.write("Default stacks already present; nothing changed.")

    def do_load_demo(self, **opts):
        from stacks.defaults.demo import mini_monitoring

        if Stack.objects.filter(slug="demo").exists():
            self.stdout.write("Stack demo already present; nothing changed.")
            return
        stack = mini_monitoring(slug="demo", prom_port=19090, am_port=19093)
        Stack.objects.filter(pk=stack.pk).update(name="Demo (local images)", scrape_interval="15s",
                                                 evaluation_interval="15s")
        self.stdout.write("Created stack demo (Prometheus on 127.0.0.1:19090, Alertmanager on 127.0.0.1:19093).")

    def do_render(self, slug, out, **opts):
        from stacks.render import render_bundle
        from stacks.validate import errors, validate_stack

        stack = self._stack(slug)
        bundle = render_bundle(stack)
        problems = validate_stack(stack, bundle)
        for problem in problems:
            self.stderr.write(str(problem))
        if errors(problems):
            raise CommandError(f"{slug}: {len(errors(problems))} problem(s); nothing written.")
        from stacks.safe_paths import UnsafePath, write_bundle

        target = Path(out)
        try:
            write_bundle(target, bundle.files)  # `out` becomes 0700: the files carry secrets
        except UnsafePath as exc:
            raise CommandError(f"Nothing more written to {target}: {exc}") from None
        self.stdout.write(f"Wrote {len(bundle.files)} files to {target} (hash {bundle.hash[:12]}).")

    def do_import(self, file, name, **opts):
        from stacks.importer import import_compose

        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            stack = import_compose(text, name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        from stacks import audit

        audit.record("import", f"stack {stack.slug}", detail=f"from {file} (command line)")
        self.stdout.write(f"Imported {stack.services.count()} services into stack {stack.slug}.")

    def _run_operation(self, stack, action, options, wait):
        from stacks.tasks import request_operation

        try:
            deployment = request_operation(stack, action, options=options)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{action} of {stack.slug} queued as operation #{deployment.pk}.")
        if not wait:
            return
        import threading

        from stacks.tasks import run_here, workers_alive

        runner = None

        def run_in_this_process(reason):
            self.stdout.write(f"{reason}: carrying it out from this process.")
            thread = threading.Thread(target=run_here, args=(deployment.pk,), daemon=True)
            thread.start()
            return thread

        if not workers_alive():
            runner = run_in_this_process("No Celery worker answers")
        queued_since, seen = time.monotonic(), 0
        while True:
            deployment.refresh_from_db()
            for step in deployment.steps.filter(id__gt=seen):
                seen = step.id
                self.stdout.write(f"  {step.at:%H:%M:%S} {step.message}")
            if deployment.is_done:
                break
            if (runner is None and deployment.status == Deployment.QUEUED
                    and time.monotonic() - queued_since > QUEUE_PATIENCE):
                runner = run_in_this_process(f"No worker took it within {QUEUE_PATIENCE}s")
            time.sleep(0.3)
        if runner is not None:
            runner.join()
        if deployment.status == Deployment.FAILED:
            raise CommandError(f"{action} of {stack.slug} failed: {deployment.error}")
        self.stdout.write(self.style.SUCCESS(f"{action} of {stack.slug} succeeded."))

    def do_deploy(self, slug, wait=False, **opts):
        self._run_operation(self._stack(slug), "deploy", {}, wait)

    def do_down(self, slug, volumes=False, wait=False, **opts):
        self._run_operation(self._stack(slug), "down", {"volumes": volumes}, wait)

    def do_status(self, slug, json=False, **opts):
        from stacks.engine import EngineError, stack_status

        stack = self._stack(slug)
        try:
            rows = stack_status(stack.slug)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        if json:
            self.stdout.write(_json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write(f"{slug}: no containers.")
        for row in rows:
            self.stdout.write(f"{row['name']:<40} {row['service']:<16} {row['state']:<10} "
                              f"{row['health'] or '-':<10} {row['ports']}")

    def do_logs(self, slug, service, tail=100, follow=False, **opts):
        from stacks.engine import EngineError
        from stacks.engine.apply import follow_logs

        stack = self._stack(slug)
        if not stack.services.filter(name=service).exists():
            raise CommandError(f"Stack {slug} has no service {service!r}.")
        try:
            for line in follow_logs(slug, service, tail=tail, follow=follow):
                self.stdout.write(line)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            pass

    def do_local_images(self, **opts):
        from stacks.engine.local_images import build_local_images

        for tag in build_local_images(log=self.stdout.write):
            self.stdout.write(f"built {tag}")


_json = json
