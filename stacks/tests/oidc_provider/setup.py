"""`python -m stacks.tests.oidc_provider.setup REDIRECT_URI`: migrate, create the
user alice (groups from ALICE_GROUPS) and the panel's client; prints client id and secret."""
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stacks.tests.oidc_provider.settings")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

call_command("migrate", verbosity=0)
alice = User.objects.create_user("alice", "alice@example.org", "alice-pass")
for name in os.environ.get("ALICE_GROUPS", "").split(","):
    if name:
        alice.groups.add(Group.objects.get_or_create(name=name)[0])
secret = "panel-client-secret-0123456789"
Application.objects.create(client_id="panel", client_secret=secret, name="panel", redirect_uris=sys.argv[1],
                           client_type="confidential", authorization_grant_type="authorization-code",
                           skip_authorization=True, algorithm="RS256")
print("panel", secret)
