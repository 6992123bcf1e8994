"""The predict job: decode a folder on ``cpu`` workers, classify it on a ``gpu`` worker.

A chord of ``catdog.decode_shard`` tasks (the same content-addressed shard
cache as training) and one ``catdog.predict`` task, which loads the model the
client put in Redis and writes every probability into one compact artifact.
"""

from jobs.waiting import after_decoding, decode_signatures


def predict_task_id(job_id: str) -> str:
    return f"{job_id}-predict"


def predict_signature(app, job_id, model_key, data_root, shards, options):
    return app.signature(
        "catdog.predict",
        args=(job_id, model_key, data_root, shards, options),
        task_id=predict_task_id(job_id),
        immutable=True,
    )


def build_canvas(app, job_id, data_root, shards, model_key, options):
    decode_tasks = decode_signatures(app, job_id, data_root, shards)
    predict_task = predict_signature(app, job_id, model_key, data_root, shards, options)
    return after_decoding(decode_tasks, predict_task)
