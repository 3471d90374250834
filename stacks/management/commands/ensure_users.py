"""Creates the admin login on first run and prints it (the password is generated
per install and kept in var/admin-password, readable by its owner only)."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from stacks.accounts.roles import ensure_roles


class Command(BaseCommand):
    help = "Create the admin user (generated password) and the viewer/operator groups."

    def handle(self, *args, **opts):
        ensure_roles()
        User = get_user_model()
        path = settings.BASE_DIR / "var" / "admin-password"
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@localhost", password)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password)
            path.chmod(0o600)
        if path.exists():
            self.stdout.write(f"Login: admin / {path.read_text().strip()}  (password kept in {path})")
        else:
            self.stdout.write("Login: admin (password set earlier; `manage.py changepassword admin` resets it)")
