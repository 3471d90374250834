"""The Celery app: Redis broker, tasks discovered in the Django apps. A worker
also imports stacks.worker (CELERY_IMPORTS), which makes one started without -Q
serve the queue of every engine it can reach. Nothing of the project is imported
here: this is the broker seam the tasks layer builds on."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")

app = Celery("controlpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

