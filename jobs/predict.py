"""The predict job: decode a folder on ``cpu`` workers, classify it on a ``gpu`` worker.

A chord of ``catdog.decode_shard`` tasks (the same content-addressed shard
cache as training) and one ``catdog.predict`` task, which loads the model the
client put in Redis and writes every probability into one compact artifact.
"""

from catdog_queue.jobs.canvas import after_decoding, decode_signatures
from catdog_queue.shared import task_names


def predict_task_id(job_id: str) -> str:
    return f"{job_id}-predict"


def predict_signature(app, record, model_key: str, part):
    options = record.prediction["options"]
    return app.signature(
        task_names.PREDICT,
        args=(record.job_id, model_key, part.data_root, part.shards, options),
        task_id=predict_task_id(record.job_id),
        immutable=True,
    )


def build_canvas(app, record):
    part = record.part("predict")
    decode_tasks = decode_signatures(app, record.job_id, part.data_root, part.shards)
    predict_task = predict_signature(app, record, record.prediction["model_key"], part)
    return after_decoding(decode_tasks, predict_task)


def followed_tasks(record) -> dict[str, str]:
    return {"prediction": predict_task_id(record.job_id)}
