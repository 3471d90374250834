"""`manage.py tokens rotate webhook|metrics [--wait]`: a new bearer token for
Alertmanager's webhook or for the Prometheus scrape of /metrics, then a deploy of
every deployed stack whose files carry it (the new files are written and
Prometheus/Alertmanager reload them; no container is recreated)."""
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from stacks.accounts import audit
from stacks.accounts.tokens import TOKENS, TokenFromEnvironment, rotate, stacks_using
from stacks.models import Deployment


class Command(BaseCommand):
    help = "Rotate the webhook or the metrics bearer token and redeploy the stacks that use it."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        p = sub.add_parser("rotate", help="Replace a token and reload what uses it.")
        p.add_argument("kind", choices=sorted(TOKENS))
        p.add_argument("--wait", action="store_true", help="Carry out the deploys and print their progress.")

    def handle(self, *args, verb, kind, wait=False, **opts):
        try:
            rotate(kind)
        except TokenFromEnvironment as exc:
            raise CommandError(str(exc)) from None
        audit.record("rotate token", f"{kind} token")
        self.stdout.write(f"New {kind} token generated (never printed; the stacks' files carry it).")
        for stack in stacks_using(kind).order_by("slug"):
            last = stack.deployments.exclude(status=Deployment.FAILED).order_by("-id").first()
            if last is None or last.action == "down":
                self.stdout.write(f"{stack.slug}: not deployed; its next deploy carries the new token.")
                continue
            call_command("stack", "deploy", stack.slug, wait=wait, stdout=self.stdout, stderr=self.stderr)
