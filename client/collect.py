"""Write a finished job's artifacts into the output folder (``client.output``)."""

import json

from catdog_queue.client import plots
from catdog_queue.client.output import OutputFolder
from catdog_queue.shared.metrics import ResultRejected, job_metrics
from catdog_queue.shared.shards import TRAINED_FILES, artifact_key


def save_artifacts(store, artifact_keys, job_id: str, output: OutputFolder) -> list:
    """The files a train task saved, checked to be this job's, into ``output``."""
    artifact_keys = checked_artifacts(artifact_keys, job_id)
    return [output.write(name, store.get_artifact(key)) for name, key in artifact_keys.items()]


def checked_artifacts(artifact_keys, job_id: str) -> dict:
    """Only the files a train task makes, under this job's keys: nothing from Redis names a path.

    Whoever can write to Redis could otherwise name ``../../.bashrc`` in a
    result and have every client that fetches it write there.
    """
    if not isinstance(artifact_keys, dict) or set(artifact_keys) != set(TRAINED_FILES):
        raise ResultRejected(
            f"the train task's result names files {sorted(map(str, artifact_keys or {}))[:5]},"
            f" expected {list(TRAINED_FILES)}"
        )
    for name, key in artifact_keys.items():
        if key != artifact_key(job_id, name):
            raise ResultRejected(
                f"the train task's result names {key!r} for {name}, not a key of this job"
            )
    return {name: artifact_keys[name] for name in TRAINED_FILES}


def save_metrics(metrics: dict, output: OutputFolder):
    return output.write("metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())


def collect_training(store, job_id, record, options: dict, summaries, result, output) -> dict:
    """A training task's models and history plot into ``output``; returns its metrics.

    The caller adds the timings it knows and saves ``metrics.json``.
    """
    if not isinstance(result, dict) or set(result) != {"metrics", "artifacts"}:
        raise ResultRejected(f"the train task of {job_id} returned something else than a result")
    metrics = job_metrics(
        job_id, record.part("train").listing, options, summaries, result["metrics"]
    )
    save_artifacts(store, result["artifacts"], job_id, output)
    title = f"{job_id}: {options['model']}, {options['optimizer']}"
    plots.plot_history(metrics["history"], output, title)
    return metrics
