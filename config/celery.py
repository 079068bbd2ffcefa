"""The Celery app; tasks live in monitoring.tasks and only call services."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hepwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
