"""The Celery application: ``celery -A workers.app worker -Q cpu`` (or ``-Q gpu``)."""

from celery import Celery

from workers.guarded import GuardedTask

app = Celery(
    "catdog",
    task_cls=GuardedTask,
    include=[
        "workers.limits",
        "workers.control_panel",
        "workers.cpu",
        "workers.gpu",
        "workers.task_log",
        "workers.heartbeat",
    ],
)
app.config_from_object("celeryconfig")


@app.on_after_finalize.connect
def _drop_the_unlock_task(sender, **_):
    # Celery's chord_unlock retries without end until its group finishes: a forged
    # one would come back forever. Chords on Redis are counted by the result
    # backend itself and never send it.
    sender.tasks.pop("celery.chord_unlock", None)
