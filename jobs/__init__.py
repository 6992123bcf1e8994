"""One module per job: the Celery canvas that chains its tasks, and its waiting."""
