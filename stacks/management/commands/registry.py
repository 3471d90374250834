"""`manage.py registry list|add|remove`: the image registries the engines pull
from, with their logins (secrets: read from stdin, never printed)."""
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from stacks.accounts import audit
from stacks.models import Registry


class Command(BaseCommand):
    help = "Manage image registries: list, add (or replace a login), remove."
    stealth_options = ("stdin",)  # call_command(..., stdin=…) in tests, as createsuperuser takes it

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("list", help="Registries, their address and who logs in (never the password).")
        p = sub.add_parser("add", help="Add a registry, or replace the login of one with that name.")
        p.add_argument("name")
        p.add_argument("url", help="https://host[:port]")
        p.add_argument("--username", default="")
        p.add_argument("--password-stdin", action="store_true", help="Read the password (or token) from stdin.")
        p.add_argument("--ca-cert", type=Path, help="PEM file of the CA that signed the registry's certificate.")
        p = sub.add_parser("remove", help="Forget a registry and its login.")
        p.add_argument("name")

    def handle(self, *args, verb, **opts):
        getattr(self, "do_" + verb)(**opts)

    def do_list(self, **opts):
        for r in Registry.objects.all():
            login = f"user {r.username}" if r.username else "anonymous"
            ca = "  own CA" if r.ca_cert else ""
            self.stdout.write(f"{r.name:<16} {r.url:<32} {login}{ca}")

    def do_add(self, name, url, username, password_stdin, ca_cert, stdin=None, **opts):
        if password_stdin and not username:
            raise CommandError("--password-stdin goes with --username.")
        if username and not password_stdin:
            raise CommandError("Give the password on stdin with --password-stdin (never as an argument: "
                               "it would stay in the shell's history and the process list).")
        password = (stdin or sys.stdin).read().rstrip("\r\n") if password_stdin else ""
        if username and not password:
            raise CommandError("No password came on stdin.")
        registry = Registry.objects.filter(name=name).first() or Registry(name=name)
        replaced = registry.pk is not None
        registry.url, registry.username, registry.password = url, username, password
        if ca_cert is not None:
            try:
                registry.ca_cert = ca_cert.read_text()
            except OSError as exc:
                raise CommandError(f"Cannot read {ca_cert}: {exc.strerror}.") from None
        try:
            registry.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(m for msgs in exc.message_dict.values() for m in msgs)) from None
        registry.save()
        audit.record("registry", f"registry {name}", detail=f"{'replaced' if replaced else 'added'} {registry.host}"
                     + (f" as {username}" if username else ""))
        self.stdout.write(f"{'Replaced' if replaced else 'Added'} registry {name} ({registry.host})"
                          + (f", logging in as {username}" if username else ", anonymous")
                          + ": every pull from it, on every engine, uses it.")

    def do_remove(self, name, **opts):
        deleted, _ = Registry.objects.filter(name=name).delete()
        if not deleted:
            raise CommandError(f"No registry named {name!r}.")
        audit.record("registry", f"registry {name}", detail="removed")
        self.stdout.write(f"Removed registry {name}.")
