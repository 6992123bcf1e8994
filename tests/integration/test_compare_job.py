"""``submit.py compare`` and the compare canvas through the real cluster."""

import json

import pytest

from catdog_queue.client import follow as waiting
from catdog_queue.jobs import compare as compare_job
from catdog_queue.jobs.canvas import decode_task_id
from catdog_queue.jobs.records import DataPart, JobRecord, listing_summary
from catdog_queue.shared.listing import list_labelled_images, plan_shards
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration


def test_compare_trains_each_optimizer_on_the_same_split(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    arguments = ["compare", "--data", tmp_path / "data", "--optimizers", "sgd", "adagrad"]
    arguments += ["--epochs", 3, "--image-size", 8, "--batch-size", 8, "--out", tmp_path / "out"]
    process = run_submit(arguments, clean_environment() | cluster.environment())
    assert process.returncode == 0, process.stderr
    table = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert [row["name"] for row in table] == ["sgd", "adagrad"]
    assert [row["learning_rate"] for row in table] == [0.01, 0.01]
    for row in table:
        assert row["state"] == "succeeded"
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["train_s"] > 0
        assert len(row["history"]) == 3 and 1 <= row["best_epoch"] <= 3
        metrics = json.loads((tmp_path / "out" / row["name"] / "metrics.json").read_text())
        assert metrics["optimizer"] == row["name"]
        assert metrics["test_images"] == 10
        assert (tmp_path / "out" / row["name"] / "model.keras").exists()
    first, second = (
        json.loads((tmp_path / "out" / name / "metrics.json").read_text())
        for name in ("sgd", "adagrad")
    )
    # The same held-out files for both runs, from shards decoded once.
    assert first["test_set_sha256"] == second["test_set_sha256"]
    assert len(first["test_set_sha256"]) == 64
    assert first["shards"] == second["shards"]
    assert (tmp_path / "out" / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "adagrad" in process.stdout and "held-out acc" in process.stdout


def test_compare_models_trains_each_model_on_the_same_held_out_images(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    arguments = ["compare", "--data", tmp_path / "data", "--models", "mlp", "cnn"]
    arguments += ["--epochs", 2, "--image-size", 16, "--batch-size", 8, "--out", tmp_path / "out"]
    process = run_submit(arguments, clean_environment() | cluster.environment())
    assert process.returncode == 0, process.stderr
    table = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert [(row["name"], row["model"], row["optimizer"]) for row in table] == [
        ("mlp-sgd", "mlp", "sgd"),
        ("cnn-adam", "cnn", "adam"),
    ]
    assert {row["state"] for row in table} == {"succeeded"}
    metrics = [
        json.loads((tmp_path / "out" / row["name"] / "metrics.json").read_text()) for row in table
    ]
    assert [m["model"] for m in metrics] == ["mlp", "cnn"]
    assert metrics[0]["test_set_sha256"] == metrics[1]["test_set_sha256"]
    assert metrics[0]["shards"] == metrics[1]["shards"]  # decoded once, for both
    assert "cnn-adam" in process.stdout


def test_a_failed_run_fails_alone(cluster_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    listing = list_labelled_images(tmp_path / "data")
    shards = plan_shards(listing, 100, 8)
    options = {
        "model": "mlp", "optimizer": "sgd", "learning_rate": 0.01, "epochs": 1,
        "batch_size": 8, "image_size": 8, "seed": 1, "test_size": 0.25, "labels": ["cat", "dog"],
    }  # fmt: skip
    runs = [
        {"name": "good", "options": options},
        {"name": "broken", "options": options | {"learning_rate": -1.0}},
    ]
    job_id = f"failing-{tmp_path.name}"
    part = DataPart("train", str(listing.root), listing_summary(listing), shards)
    record = JobRecord(job_id, "compare", [part], runs=runs)
    compare_job.build_canvas(cluster_app, record).apply_async()
    waiting.wait_for_decode(cluster_app, job_id, shards, lambda done, total: None)
    results = {
        run["name"]: cluster_app.AsyncResult(compare_job.run_task_id(job_id, run["name"]))
        for run in runs
    }
    outcomes = waiting.wait_for_tasks(results, lambda *_: None, lambda *_: None)
    assert outcomes["good"]["state"] == "SUCCESS"
    assert outcomes["good"]["result"]["metrics"]["test_images"] == 6  # round(10 * 0.25) per label
    assert outcomes["broken"]["state"] == "FAILURE"
    assert "OptionsError: learning rate must be a positive number" in outcomes["broken"]["error"]
    decode_ids = [decode_task_id(job_id, shard["index"]) for shard in shards]
    waiting.release_results(cluster_app, [*decode_ids, *(r.id for r in results.values())])
