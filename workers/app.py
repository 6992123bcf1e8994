"""The Celery application: ``celery -A workers.app worker -Q cpu`` (or ``-Q gpu``)."""

from celery import Celery

app = Celery(
    "catdog", include=["workers.cpu", "workers.gpu", "workers.task_log", "workers.heartbeat"]
)
app.config_from_object("celeryconfig")
