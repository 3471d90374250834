"""`manage.py engine list|add|remove`: the Docker engines stacks run on."""
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from stacks.models import Engine, Stack
from stacks.queues import announce_engines, served_queues


class Command(BaseCommand):
    help = "Manage Docker engines: list, add, remove."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("list", help="Engines, their address, mode, stacks and whether a worker serves them.")
        p = sub.add_parser("add", help="Register an engine (a remote Docker engine or a Swarm manager).")
        p.add_argument("name")
        p.add_argument("--docker-host", default="", help="tcp://host:2376, ssh://user@host or unix:///path; "
                                                          "empty: the worker's own engine.")
        p.add_argument("--swarm", action="store_true", help="Stacks on it deploy as Swarm services.")
        p.add_argument("--tls-ca", type=Path)
        p.add_argument("--tls-cert", type=Path)
        p.add_argument("--tls-key", type=Path)
        p = sub.add_parser("remove", help="Remove an engine no stack uses.")
        p.add_argument("name")

    def handle(self, *args, verb, **opts):
        getattr(self, "do_" + verb)(**opts)

    def do_list(self, **opts):
        from django.db.models import Count

        served = served_queues()
        for e in Engine.objects.annotate(n=Count("stacks")):
            worker = "worker" if e.queue in served else "no worker"
            mode = "swarm" if e.swarm else "engine"
            tls = " tls" if e.uses_tls else ""
            self.stdout.write(f"{e.name:<16} {mode:<7} {e.address}{tls}  {e.n} stacks  {worker}")

    def do_add(self, name, docker_host, swarm, tls_ca, tls_cert, tls_key, **opts):
        if Engine.objects.filter(name=name).exists():
            raise CommandError(f"An engine named {name!r} exists already.")
        engine = Engine(name=name, docker_host=docker_host, swarm=swarm)
        for field, path in (("tls_ca", tls_ca), ("tls_cert", tls_cert), ("tls_key", tls_key)):
            if path is not None:
                try:
                    setattr(engine, field, path.read_text())
                except OSError as exc:
                    raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        if engine.uses_tls and not docker_host.startswith("tcp://"):
            raise CommandError("TLS certificates go with a tcp:// address.")
        try:
            engine.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(m for msgs in exc.message_dict.values() for m in msgs)) from None
        engine.save()
        announce_engines()  # workers started without -Q take it up now if they reach it
        self.stdout.write(f"Added engine {name} ({engine.address}); its work goes to Celery queue {engine.queue}, "
                          "served by the workers started without -Q that reach it; elsewhere, start one with "
                          f"`celery -A controlpanel worker -Q {engine.queue}`.")

    def do_remove(self, name, **opts):
        engine = Engine.objects.filter(name=name).first()
        if engine is None:
            raise CommandError(f"No engine named {name!r}.")
        used = list(engine.stacks.values_list("slug", flat=True))
        if used:
            raise CommandError(f"Engine {name} runs stacks {', '.join(used)}: move or delete them first.")
        leaving = list(Stack.objects.filter(moved_from=engine).values_list("slug", flat=True))
        if leaving:
            raise CommandError(f"Stacks {', '.join(leaving)} moved away from {name} but are not yet brought down "
                               "there: deploy them first.")
        engine.delete()
        self.stdout.write(f"Removed engine {name}.")
