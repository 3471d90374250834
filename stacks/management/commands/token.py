"""`manage.py token create USERNAME [--write] [--stack SLUG …] [--name NAME]`: an
API token for a user, printed once, on the last line (only its sha256 is kept).
`token list [USERNAME]` and `token revoke KEY` manage them. (The webhook and
metrics tokens are `manage.py tokens`.)"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from stacks.accounts import audit
from stacks.accounts.access import operable_stacks, visible_stacks
from stacks.models import ApiToken, Stack


class Command(BaseCommand):
    help = "Create, list and revoke a user's API tokens for /api/v1/."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        p = sub.add_parser("create", help="A new token, printed once on the last line.")
        p.add_argument("username")
        p.add_argument("--write", action="store_true", help="May deploy, plan and acknowledge (as the user may).")
        p.add_argument("--stack", action="append", default=[], metavar="SLUG", help="Only this stack (repeatable).")
        p.add_argument("--name", default="", help="What it is for (default: cli).")
        p = sub.add_parser("list", help="Tokens (never their secret).")
        p.add_argument("username", nargs="?")
        p = sub.add_parser("revoke", help="Revoke a token by its key (the 8 characters after pnl_).")
        p.add_argument("key")

    def handle(self, *args, verb, **opts):
        getattr(self, f"do_{verb}")(**opts)

    def do_create(self, username, write, stack, name, **opts):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        stacks = []
        for slug in dict.fromkeys(stack):
            found = Stack.objects.filter(slug=slug).first()
            if found is None:
                raise CommandError(f"No stack named {slug!r}.")
            allowed = operable_stacks(user) if write else visible_stacks(user)
            if not allowed.filter(pk=found.pk).exists():
                raise CommandError(f"{username} may not {'operate' if write else 'see'} {slug}: "
                                   "a token never does more than its user.")
            stacks.append(found)
        if not visible_stacks(user).exists():
            self.stderr.write(f"Note: {username} has no role on any stack yet; the token sees nothing until then.")
        token, secret = ApiToken.objects.issue(user, name or "cli", write=write, stacks=stacks)
        audit.record("create api token", str(token), user=user,
                     detail=f"{'read-write' if write else 'read-only'}"
                            f"{' for ' + ', '.join(s.slug for s in stacks) if stacks else ''} (command line)")
        self.stdout.write(f"Token {token.name!r} for {username} "
                          f"({'read-write' if write else 'read-only'}, "
                          f"{', '.join(s.slug for s in stacks) or 'every stack the user may see'}); shown once:")
        self.stdout.write(secret)

    def do_list(self, username=None, **opts):
        qs = ApiToken.objects.select_related("user").prefetch_related("stacks")
        if username:
            qs = qs.filter(user__username=username)
        for t in qs:
            state = f"revoked {t.revoked:%Y-%m-%d}" if t.revoked else "live"
            used = f"{t.last_used:%Y-%m-%d %H:%M}" if t.last_used else "never"
            stacks = ",".join(s.slug for s in t.stacks.all()) or "*"
            self.stdout.write(f"{t.key}  {t.user.username:<16} {t.name:<20} {'rw' if t.write else 'ro'}  "
                              f"{stacks:<20} used {used}  {state}")

    def do_revoke(self, key, **opts):
        token = ApiToken.objects.filter(key=key.removeprefix("pnl_")[:8]).first()
        if token is None:
            raise CommandError(f"No token with key {key!r} (`token list` shows them).")
        token.revoke()
        audit.record("revoke api token", str(token), user=token.user, detail="command line")
        self.stdout.write(f"Revoked {token}.")
