"""The train job: decode every shard on ``cpu`` workers, then train on a ``gpu`` worker.

A Celery chord: the header is one ``catdog.decode_shard`` task per uncached
shard, the callback one ``catdog.train`` task. Shard keys are
content-addressed and known before decoding, so the callback takes the shard
specs (keys and file names, to decode again any shard Redis loses), not the
decode results. With a ``predict`` part, its shards join the header and a
``catdog.predict`` task follows training, using the model it saved.
"""

from celery import chain

from catdog_queue.jobs.canvas import after_decoding, decode_signatures
from catdog_queue.jobs.predict import predict_signature, predict_task_id
from catdog_queue.shared import task_names
from catdog_queue.shared.shards import artifact_key


def train_task_id(job_id: str) -> str:
    return f"{job_id}-train"


def build_canvas(app, record):
    job_id, train, predict = record.job_id, record.part("train"), record.part("predict")
    decode_tasks = [
        task
        for part in record.parts
        for task in decode_signatures(app, job_id, part.data_root, part.shards)
    ]
    canvas = app.signature(
        task_names.TRAIN,
        args=(job_id, train.data_root, train.shards, record.options),
        task_id=train_task_id(job_id),
        immutable=True,
    )
    if predict is not None:
        model_key = artifact_key(job_id, "model.keras")
        predict_task = predict_signature(app, record, model_key, predict)
        canvas = chain(canvas, predict_task)
    return after_decoding(decode_tasks, canvas)


def followed_tasks(record) -> dict[str, str]:
    """The long tasks a client follows after decoding: ``{name: task id}``."""
    tasks = {"training": train_task_id(record.job_id)}
    if record.part("predict") is not None:
        tasks["prediction"] = predict_task_id(record.job_id)
    return tasks
