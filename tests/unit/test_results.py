"""Results read back from Redis are checked before anything is written from them."""

import json

import pytest

from catdog_queue.client.collect import checked_artifacts
from catdog_queue.client.predictions import checked_rejections, checked_table
from catdog_queue.shared.metrics import (
    JOB_FIELDS,
    WORKER_FIELDS,
    ResultRejected,
    check,
    job_metrics,
)
from catdog_queue.shared.options import TrainingOptions


def worker_metrics(**changes) -> dict:
    values = {
        "test_loss": 0.5, "test_accuracy": 0.75, "train_accuracy": 0.8,
        "confusion_matrix": [[3, 1], [1, 3]], "warnings": [], "train_images": 24, "test_images": 8,
        "test_set_sha256": "0" * 64, "validation": {"images": 8, "source": "held-out"},
        "history": [{"loss": 0.5}], "epochs_run": 1, "best_epoch": 1,
        "resumed_from_epoch": None, "device": "CPU: x", "backend": "tensorflow",
        "mixed_precision": False, "jit_compile": False, "steps_per_execution": 1,
        "train_devices": {"count": 1, "names": ["cpu:0"], "strategy": "single", "note": None},
        "images_used": 32, "shards_redecoded": 0, "data_mode": "memory",
        "data_feed": {"reason": "fits"}, "peak_rss_bytes": 10**8, "timings": {"train_s": 1.0},
    }  # fmt: skip
    return values | changes


def test_artifacts_must_be_the_train_tasks_files_under_this_jobs_keys():
    good = {
        "model.keras": "catdog:job:j1:artifact:model.keras",
        "model.h5": "catdog:job:j1:artifact:model.h5",
    }
    assert checked_artifacts(good, "j1") == good
    with pytest.raises(ResultRejected, match="names files"):
        checked_artifacts(good | {"../escaped.txt": "catdog:job:j1:artifact:x"}, "j1")
    with pytest.raises(ResultRejected, match="names files"):
        checked_artifacts({"../model.keras": "k", "model.h5": "k"}, "j1")
    with pytest.raises(ResultRejected, match="not a key of this job"):
        checked_artifacts(good | {"model.h5": "catdog:job:other:artifact:model.h5"}, "j1")
    with pytest.raises(ResultRejected):
        checked_artifacts(["model.keras"], "j1")


def test_predictions_may_name_only_listed_files():
    listed = {"1.jpg", "2.jpg"}
    table = {"paths": ["1.jpg"], "probabilities": [[0.25, 0.75]]}
    assert checked_table(json.dumps(table).encode(), listed, 2) == table
    for bad in (
        {"paths": ["../../etc/passwd"], "probabilities": [[0.5, 0.5]]},
        {"paths": ["1.jpg"], "probabilities": [[0.5, 0.5, 0.0]]},
        {"paths": ["1.jpg"], "probabilities": [[1.5, -0.5]]},
        {"paths": ["1.jpg", "2.jpg"], "probabilities": [[0.5, 0.5]]},
        ["1.jpg"],
    ):
        with pytest.raises(ResultRejected):
            checked_table(json.dumps(bad).encode(), listed, 2)
    with pytest.raises(ResultRejected):
        checked_table(b"not json", listed, 2)
    # Listed files come back with their reasons, and nothing else a peer added.
    sent = [{"path": "2.jpg", "reason": "empty", "extra": "dropped"}]
    assert checked_rejections(sent, listed) == [{"path": "2.jpg", "reason": "empty"}]
    assert checked_rejections([], listed) == []
    with pytest.raises(ResultRejected):
        checked_rejections([{"path": "2.jpg", "reason": 3}], listed)
    with pytest.raises(ResultRejected):
        checked_rejections({"path": "2.jpg", "reason": "empty"}, listed)
    with pytest.raises(ResultRejected):
        checked_rejections([{"path": "/etc/shadow", "reason": "x"}], listed)


def test_worker_metrics_must_match_the_schema_field_for_field():
    assert check(worker_metrics(), WORKER_FIELDS, "m")
    with pytest.raises(ResultRejected, match="missing fields \\['device'\\]"):
        check({k: v for k, v in worker_metrics().items() if k != "device"}, WORKER_FIELDS, "m")
    with pytest.raises(ResultRejected, match="unknown ones \\['extra'\\]"):
        check(worker_metrics(extra=1), WORKER_FIELDS, "m")
    with pytest.raises(ResultRejected, match="test_accuracy is a str"):
        check(worker_metrics(test_accuracy="1.0"), WORKER_FIELDS, "m")
    with pytest.raises(ResultRejected, match="epochs_run is a bool"):
        check(worker_metrics(epochs_run=True), WORKER_FIELDS, "m")


def test_job_metrics_hold_every_declared_field_in_order():
    options = TrainingOptions(("cat", "dog")).to_json()
    listing = {"root": "/data", "total": 33, "rejected": [{"path": "x", "reason": "y"}]}
    summaries = [{"rejected": [], "bytes": 100, "reused": True}]
    metrics = job_metrics("j1", listing, options, summaries, worker_metrics())
    assert list(metrics) == list(JOB_FIELDS)
    assert metrics["device"] == "CPU: x"  # what trained, not the option "auto"
    assert metrics["images_used"] + len(metrics["images_rejected"]) == metrics["images_total"]
    assert metrics["shards"] == {"count": 1, "bytes": 100, "reused": 1}
