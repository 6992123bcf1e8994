"""Write a finished job's artifacts into the output folder.

Each file is written under a temporary name and renamed into place, so an
interrupted collect never leaves a half-written model behind.
"""

import json
import os
from pathlib import Path

from client import plots


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def save_artifacts(store, artifact_keys: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, key in artifact_keys.items():
        path = out_dir / name
        write_atomically(path, store.get_artifact(key))
        written.append(path)
    return written


def save_metrics(metrics: dict, out_dir: Path) -> Path:
    path = out_dir / "metrics.json"
    write_atomically(path, (json.dumps(metrics, indent=2) + "\n").encode())
    return path


def collect_training(store, job_id, record, options: dict, summaries, result, out: Path) -> dict:
    """A training task's models and history plot into ``out``; returns its metrics.

    The caller adds the timings it knows and saves ``metrics.json``.
    """
    save_artifacts(store, result["artifacts"], out)
    metrics = job_metrics(record, options, summaries, result["metrics"])
    title = f"{job_id}: {options['model']}, {options['optimizer']}"
    plots.plot_history(metrics["history"], out, title)
    return metrics


def job_metrics(record, options: dict, summaries, worker_metrics) -> dict:
    listing = record.part("train").listing
    decode_rejected = [item for summary in summaries for item in summary["rejected"]]
    metrics = {"job_id": record.job_id, "data_dir": listing["root"]} | options
    metrics |= {
        "images_total": listing["total"],
        "images_rejected": listing["rejected"] + decode_rejected,
        "shards": {
            "count": len(summaries),
            "bytes": sum(summary["bytes"] for summary in summaries),
            "reused": sum(1 for summary in summaries if summary["reused"]),
        },
    }
    metrics |= {name: value for name, value in worker_metrics.items() if name != "timings"}
    return metrics
