"""The Celery app: Redis broker, tasks discovered in the Django apps; a worker
started without -Q also serves the queue of every engine it can reach."""
import os

from celery import Celery
from celery.signals import celeryd_after_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")

app = Celery("controlpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_after_setup.connect
def _serve_engines(sender, instance, **kwargs):
    from stacks.worker import serve_reachable_engines  # also registers its control command

    serve_reachable_engines(instance)
