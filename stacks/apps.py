import os

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class StacksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stacks"

    def ready(self):
        from .alerting import auth, ingest
        from .roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
        post_migrate.connect(_sqlite_footprint_triggers, sender=self)
        auth.connect_signals()
        ingest.connect_signals()
        connection_created.connect(_private_sqlite_file)
        from . import audit  # noqa: F401  (connects the login and admin signals)


def _private_sqlite_file(sender, connection, **kwargs):
    # The SQLite file holds the secrets and the sessions: owner only.
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict.get("NAME") or "")
        if name and not name.startswith(":memory:") and "mode=memory" not in name and os.path.exists(name):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def _sqlite_footprint_triggers(sender, using="default", **kwargs):
    """SQLite rebuilds a table to alter it (a new table, copied, renamed), which
    drops its triggers: the footprint triggers of migration 0005 are re-created
    after every migrate, so later migrations cannot leave stale footprints."""
    import importlib

    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return  # PostgreSQL's ALTER TABLE keeps them
    m = importlib.import_module("stacks.migrations.0005_i13_alert_search_and_footprints")
    with connection.cursor() as cursor:
        for name in m.SQLITE_TRIGGER_NAMES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in m._sqlite_triggers():
            cursor.execute(statement)
