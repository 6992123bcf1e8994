"""Workers read only what they may, run no pickled code, and keep passwords quiet."""

import hashlib
import json
import zipfile

import pytest

from catdog_queue.client import follow as waiting
from tests.faults import wait_for
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration


def decode_request(key: str, paths: list[str]) -> dict:
    return {"key": key, "index": 0, "paths": paths, "image_size": 8}


def shard_key(name: str) -> str:
    """A key of the form workers accept (``shared.task_arguments``), named for the test."""
    return "catdog:shard:" + hashlib.sha256(name.encode()).hexdigest()


def test_a_worker_refuses_a_data_folder_outside_its_roots(cluster, cluster_app):
    key = shard_key("security-etc")
    task = cluster_app.signature(
        "catdog.decode_shard", args=("security", "/etc", decode_request(key, ["passwd"]))
    ).apply_async()
    with pytest.raises(Exception, match="outside the folders this worker may read") as refused:
        task.get(timeout=60)
    assert type(refused.value).__name__ == "DataRootRefused"
    assert not cluster.redis().exists(key)
    waiting.release_results(cluster_app, [task.id])


def test_dot_dot_paths_are_rejected_inside_an_allowed_root(cluster, cluster_app, tmp_path):
    make_separable_images(tmp_path, per_label=1)
    key = shard_key("security-dots")
    request = decode_request(key, ["../../../../../../etc/passwd"])
    task = cluster_app.signature(
        "catdog.decode_shard", args=("security", str(tmp_path), request)
    ).apply_async()
    # Refused with the task's arguments, before any file is opened (shared.task_arguments);
    # the data folder's own rule (DataFolder: "resolves outside") stands behind it.
    with pytest.raises(Exception, match="relative paths inside the data folder") as refused:
        task.get(timeout=60)
    assert type(refused.value).__name__ == "TaskRefused"
    assert not cluster.redis().exists(key)
    waiting.release_results(cluster_app, [task.id])


def test_pickled_messages_are_refused_unread(cluster, cluster_app, tmp_path):
    make_separable_images(tmp_path, per_label=1)
    key = shard_key("security-pickle")
    task = cluster_app.signature(
        "catdog.decode_shard",
        args=("security", str(tmp_path), decode_request(key, ["cat.0.jpg"])),
        serializer="pickle",
    ).apply_async()
    log = cluster.log_dir / "cpu-worker.log"
    wait_for(
        lambda: "untrusted content of type pickle" in log.read_text(),
        30,
        0.2,
        lambda: "the worker never reported the pickled message",
    )
    assert task.state == "PENDING"  # never run
    assert not cluster.redis().exists(key)
    waiting.release_results(cluster_app, [task.id])


def test_passwords_stay_out_of_output_metrics_and_logs(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    environment = clean_environment() | cluster.environment()
    process = run_submit([*arguments, "--out", out, "--broker", environment["CELERY_BROKER_URL"]])
    assert process.returncode == 0, process.stderr
    assert "redis://client:***@127.0.0.1" in process.stderr  # the broker is named, masked
    texts = [process.stdout, process.stderr, (out / "metrics.json").read_text()]
    logs = [*cluster.log_dir.glob("*.log"), *(cluster.cache_dir / "logs").glob("*.log")]
    assert len(logs) >= 4  # workers, Redis, its keeper
    texts += [log.read_text(errors="replace") for log in logs]
    assert all(password not in text for password in cluster.passwords for text in texts)


def test_a_model_with_code_in_it_is_refused_by_the_worker(cluster, tmp_path):
    import keras

    inputs = keras.Input(shape=(8, 8, 3), dtype="uint8")
    outputs = keras.layers.Lambda(lambda x: keras.ops.ones((1, 2)))(inputs)
    model_path = tmp_path / "model.keras"
    keras.Model(inputs, outputs).save(model_path)
    with zipfile.ZipFile(model_path, "a") as archive:
        archive.writestr("catdog.json", json.dumps({"labels": ["cat", "dog"], "image_size": 8}))
    make_separable_images(tmp_path / "data", per_label=2)
    arguments = ["predict", "--model", model_path, "--data", tmp_path / "data"]
    process = run_submit(
        [*arguments, "--out", tmp_path / "p.csv"], clean_environment() | cluster.environment()
    )
    assert process.returncode == 1
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: prediction failed") and "safe_mode" in last_line
    assert not (tmp_path / "p.csv").exists()
