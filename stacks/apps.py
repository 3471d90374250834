from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StacksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stacks"

    def ready(self):
        from .alerting import auth, ingest
        from .roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
        auth.connect_signals()
        ingest.connect_signals()
