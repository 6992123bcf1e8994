"""The train job: decode every shard on ``cpu`` workers, then train on a ``gpu`` worker.

A Celery chord: the header is one ``catdog.decode_shard`` task per shard, the
callback one ``catdog.train`` task. Shard keys are content-addressed and known
before decoding, so the callback takes the shard specs (keys and file names,
to decode again any shard Redis loses), not the decode results.
With ``predict_shards``, their decoding joins the header and a
``catdog.predict`` task follows training, using the model it saved.
"""

from celery import chain

from jobs.predict import predict_signature
from jobs.waiting import after_decoding, decode_signatures
from shared.shards import artifact_key


def train_task_id(job_id: str) -> str:
    return f"{job_id}-train"


def build_canvas(app, job_id, data_root, shards, options, predict_shards=(), predict_root=None):
    decode_tasks = decode_signatures(app, job_id, data_root, shards)
    if predict_shards:
        decode_tasks += decode_signatures(app, job_id, predict_root, predict_shards)
    train_task = app.signature(
        "catdog.train",
        args=(job_id, data_root, shards, options),
        task_id=train_task_id(job_id),
        immutable=True,
    )
    canvas = train_task
    if predict_shards:
        model_key = artifact_key(job_id, "model.keras")
        predict_options = {"batch_size": options["batch_size"], "labels": options["labels"]}
        predict_task = predict_signature(
            app, job_id, model_key, predict_root, predict_shards, predict_options
        )
        canvas = chain(canvas, predict_task)
    return after_decoding(decode_tasks, canvas)
