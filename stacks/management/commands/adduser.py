"""`manage.py adduser NAME --role viewer|operator [--stack SLUG …]`: a team member
with a generated password, printed once. Without --stack the role covers every
stack (the `viewers` or `operators` group); with --stack (repeatable) it covers
those stacks only, and an existing user gets the roles added. Operators are
staff, so they can edit (their stacks) in the admin."""
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from stacks.accounts import audit
from stacks.accounts.roles import OPERATORS, VIEWERS, ensure_roles
from stacks.models import Stack, StackRole


class Command(BaseCommand):
    help = "Create a viewer or an operator (of every stack, or of the stacks named) with a generated password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=["viewer", "operator"], default="viewer")
        parser.add_argument("--stack", action="append", default=[], metavar="SLUG",
                            help="Only this stack (repeat for several); an existing user gets the role added.")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, stack, email, **opts):
        ensure_roles()
        User = get_user_model()
        stacks = []
        for slug in dict.fromkeys(stack):
            found = Stack.objects.filter(slug=slug).first()
            if found is None:
                raise CommandError(f"No stack named {slug!r} (`stack list` names them).")
            stacks.append(found)
        user = User.objects.filter(username=username).first()
        if user is not None and not stacks:
            raise CommandError(f"A user named {username!r} exists already.")
        with transaction.atomic():
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(username, email=email, password=password)
            if role == "operator" and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            if stacks:
                for s in stacks:
                    StackRole.objects.update_or_create(stack=s, user=user, defaults={"role": role, "source": ""})
            else:
                user.groups.add(Group.objects.get(name=OPERATORS if role == "operator" else VIEWERS))
        where = ", ".join(s.slug for s in stacks) if stacks else "every stack"
        audit.record("add user" if password else "add role", username,
                     detail=f"{role} of {where} (command line)")
        if password:
            self.stdout.write(f"Created {role} {username} ({where}) / {password}")
        else:
            self.stdout.write(f"{username} is now {role} of {where}")
