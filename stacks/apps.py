import os

from django.apps import AppConfig
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class StacksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stacks"

    def ready(self):
        # Django's rule: modules that import models are imported once the apps are ready.
        from stacks.accounts import audit  # noqa: F401  (connects the login and admin signals)
        from stacks.accounts import tokens as auth  # imports models: apps ready
        from stacks.accounts.roles import ensure_roles  # imports models: apps ready
        from stacks.alerting import ingest  # imports models: apps ready

        post_migrate.connect(ensure_roles, sender=self)
        post_migrate.connect(_sqlite_footprint_triggers, sender=self)
        auth.connect_signals()
        ingest.connect_signals()
        connection_created.connect(_private_sqlite_file)


def _private_sqlite_file(sender, connection, **kwargs):
    # The SQLite file holds the secrets and the sessions: owner only.
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict.get("NAME") or "")
        if name and not name.startswith(":memory:") and "mode=memory" not in name and os.path.exists(name):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def _sqlite_footprint_triggers(sender, using="default", **kwargs):
    """SQLite drops a table's triggers when a migration rebuilds the table (not
    made before migration 0005, or after migrating back past it)."""
    from stacks.validation.footprint import create_triggers  # imports models: only once the apps are ready

    connection = connections[using]
    if connection.vendor == "sqlite" and "stacks_stackfootprint" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            create_triggers(cursor.execute, connection.vendor)
