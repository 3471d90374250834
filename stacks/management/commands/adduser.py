"""`manage.py adduser NAME --role viewer|operator`: a team member with a generated
password, printed once. Operators are staff, so they can edit in the admin."""
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from stacks.accounts import audit
from stacks.accounts.roles import OPERATORS, VIEWERS, ensure_roles


class Command(BaseCommand):
    help = "Create a viewer or an operator with a generated password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=["viewer", "operator"], default="viewer")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, email, **opts):
        ensure_roles()
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} exists already.")
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username, email=email, password=password, is_staff=role == "operator")
        user.groups.add(Group.objects.get(name=OPERATORS if role == "operator" else VIEWERS))
        audit.record("add user", username, detail=f"{role} (command line)")
        self.stdout.write(f"Created {role} {username} / {password}")
