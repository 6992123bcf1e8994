"""``submit.py train`` through a real Redis server and real Celery workers."""

import math

import numpy as np
import pytest

from tests.images import add_broken_files, make_separable_images

pytestmark = pytest.mark.integration


def train_arguments(data, out, *extra):
    return ["train", "--data", data, "--out", out, "--image-size", 8, "--shard-size", 15, *extra]


def test_separable_images_train_to_high_accuracy_with_all_artifacts(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=40)
    process, metrics = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "out", "--epochs", 8, "--batch-size", 16)
    )
    assert process.returncode == 0, process.stderr
    assert "held-out accuracy" in process.stdout
    assert metrics["test_accuracy"] >= 0.9
    assert metrics["images_total"] == metrics["images_used"] == 80
    assert metrics["train_images"] + metrics["test_images"] == 80
    assert metrics["test_images"] == 20
    assert np.sum(metrics["confusion_matrix"]) == metrics["test_images"]
    assert metrics["labels"] == ["cat", "dog"]
    assert metrics["optimizer"] == "sgd" and metrics["learning_rate"] == 0.01
    assert len(metrics["history"]) == 8
    assert set(metrics["history"][0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert metrics["shards"]["count"] == math.ceil(80 / 15)
    assert metrics["shards"]["bytes"] >= 80 * 8 * 8 * 3
    assert metrics["device"].startswith(("CPU", "GPU"))
    for phase in ("list_s", "decode_s", "assemble_s", "train_s", "evaluate_s", "total_s"):
        assert metrics["timings"][phase] >= 0
    out = tmp_path / "out"
    assert (out / "history.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "model.h5").read_bytes().startswith(b"\x89HDF")
    assert (out / "model.keras").read_bytes().startswith(b"PK")  # a zip archive


def test_saved_model_takes_raw_uint8_pixels(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    process, metrics = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "out", "--epochs", 8, "--batch-size", 8)
    )
    assert process.returncode == 0, process.stderr
    assert metrics["test_accuracy"] >= 0.9
    import keras

    model = keras.saving.load_model(tmp_path / "out" / "model.keras")
    red = np.full((1, 8, 8, 3), (200, 60, 60), dtype=np.uint8)
    blue = np.full((1, 8, 8, 3), (60, 60, 200), dtype=np.uint8)
    probabilities = model.predict(np.concatenate([red, blue]), verbose=0)
    assert probabilities.argmax(axis=1).tolist() == [0, 1]  # cat, dog


def test_second_run_reuses_every_shard(cluster, submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    first_process, first = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "first", "--epochs", 1)
    )
    second_process, second = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "second", "--epochs", 1)
    )
    assert first_process.returncode == 0, first_process.stderr
    assert second_process.returncode == 0, second_process.stderr
    assert first["shards"]["reused"] == 0
    assert second["shards"]["reused"] == second["shards"]["count"] == first["shards"]["count"]
    # The client found every shard in the cache: no decode task was even sent.
    cpu_log = (cluster.log_dir / "cpu-worker.log").read_text()
    assert f"job={first['job_id']}" in cpu_log and f"job={second['job_id']}" not in cpu_log
    assert second["images_used"] == first["images_used"] == 40
    # Same seed, same files: the same held-out images.
    assert second["test_set_sha256"] == first["test_set_sha256"]


def test_another_image_size_decodes_new_shards(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    _, small = submit_to_cluster(train_arguments(tmp_path / "data", tmp_path / "a", "--epochs", 1))
    process, large = submit_to_cluster(
        ["train", "--data", tmp_path / "data", "--out", tmp_path / "b", "--epochs", 1,
         "--image-size", 12, "--shard-size", 15]
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert large["shards"]["reused"] == 0
    assert large["shards"]["bytes"] > small["shards"]["bytes"]


def test_broken_files_are_rejected_with_reasons_and_counts_add_up(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    expected = add_broken_files(tmp_path / "data", tmp_path / "outside")
    process, metrics = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "out", "--epochs", 2)
    )
    assert process.returncode == 0, process.stderr
    rejected = {item["path"]: item["reason"] for item in metrics["images_rejected"]}
    assert set(rejected) == set(expected)
    for path, fragment in expected.items():
        assert fragment in rejected[path], (path, rejected[path])
    assert metrics["images_used"] == 40
    assert metrics["images_used"] + len(metrics["images_rejected"]) == metrics["images_total"]
    assert metrics["train_images"] + metrics["test_images"] == metrics["images_used"]


def test_adagrad_is_adagrad_with_its_own_learning_rate(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10)
    process, metrics = submit_to_cluster(
        train_arguments(
            tmp_path / "data", tmp_path / "out", "--epochs", 1, "--optimizer", "adagrad"
        )
    )
    assert process.returncode == 0, process.stderr
    assert metrics["optimizer"] == "adagrad" and metrics["learning_rate"] == 0.01
    import zipfile

    with zipfile.ZipFile(tmp_path / "out" / "model.keras") as archive:
        config = archive.read("config.json").decode()
    assert '"Adagrad"' in config
