"""The Celery app; tasks live in monitoring.tasks and only call services."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hepwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_what_the_worker_loaded(**kwargs):
    """A worker process starts with the app loaded; the garbage collector need not walk it again
    on each full collection, inside whichever evaluation set it off (as config/wsgi.py)."""
    gc.freeze()
