"""The Celery application: ``celery -A catdog_queue.workers.app worker -Q cpu`` (or ``-Q gpu``)."""

from celery import Celery

from catdog_queue.workers.guarded import GuardedTask

app = Celery(
    "catdog",
    task_cls=GuardedTask,
    include=[
        "catdog_queue.workers.limits",
        "catdog_queue.workers.control_panel",
        "catdog_queue.workers.cpu",
        "catdog_queue.workers.gpu",
        "catdog_queue.workers.task_log",
        "catdog_queue.workers.heartbeat",
    ],
)
app.config_from_object("catdog_queue.celeryconfig")


@app.on_after_finalize.connect
def _drop_the_unlock_task(sender, **_):
    # Celery's chord_unlock retries without end until its group finishes: a forged
    # one would come back forever. Chords on Redis are counted by the result
    # backend itself and never send it.
    sender.tasks.pop("celery.chord_unlock", None)
