"""``submit.py train`` through a real Redis server and real Celery workers."""

import math
import re

import numpy as np
import pytest
from PIL import Image

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
    assert metrics["train_devices"]["count"] >= 1 and metrics["steps_per_execution"] >= 1
    assert isinstance(metrics["jit_compile"], bool)
    assert metrics["warnings"] == [] and "WARNING" not in process.stdout
    for phase in ("list_s", "decode_s", "assemble_s", "train_s", "evaluate_s", "total_s"):
        assert metrics["timings"][phase] >= 0
    out = tmp_path / "out"
    assert (out / "history.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "model.h5").read_bytes().startswith(b"\x89HDF")
    assert (out / "model.keras").read_bytes().startswith(b"PK")  # a zip archive


def test_a_model_that_predicts_one_label_succeeds_with_warnings(submit_to_cluster, tmp_path):
    # Every image the same grey: nothing tells the labels apart, one answer for all.
    data = tmp_path / "data"
    data.mkdir()
    for label in ("cat", "dog"):
        for number in range(20):
            Image.new("RGB", (8, 8), (128, 128, 128)).save(data / f"{label}.{number}.png")
    process, metrics = submit_to_cluster(
        train_arguments(data, tmp_path / "out", "--epochs", 2, "--batch-size", 16)
    )
    assert process.returncode == 0, process.stderr
    assert re.match(
        r"the model predicts '(cat|dog)' for all 10 held-out images: it has collapsed to one"
        r" label$",
        metrics["warnings"][0],
    ), metrics["warnings"]
    assert metrics["warnings"][-1].startswith("likely reasons: too few images for this model")
    (summary,) = [line for line in process.stdout.splitlines() if "held-out accuracy" in line]
    assert "; WARNING: The model predicts '" in summary


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


def test_a_streamed_job_holds_out_the_same_images_and_learns_as_well(submit_to_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=40)
    arguments = ["--epochs", 8, "--batch-size", 16]
    _, memory = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "memory", *arguments)
    )
    process, stream = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "stream", *arguments, "--data-mode", "stream")
    )
    assert process.returncode == 0, process.stderr
    assert memory["data_mode"] == "memory" and memory["data_feed"]["requested"] == "auto"
    assert stream["data_mode"] == "stream" and stream["data_feed"]["window_shards"] >= 1
    assert stream["test_set_sha256"] == memory["test_set_sha256"]
    assert stream["test_accuracy"] >= 0.9 and len(stream["history"]) == 8
    assert stream["peak_rss_bytes"] > 0
    assert (tmp_path / "stream" / "model.keras").read_bytes().startswith(b"PK")


def test_shards_mix_labels_and_respect_the_byte_cap(
    cluster, submit_to_cluster, tmp_path, monkeypatch
):
    """Sorted names would put every cat in the first shards; a cap of 10 images' bytes
    cuts shards of 10 even with --shard-size 15."""
    from catdog_queue.shared.listing import list_labelled_images, plan_shards

    make_separable_images(tmp_path / "data", per_label=30)
    monkeypatch.setenv("CATDOG_SHARD_MAX_BYTES", str(10 * 8 * 8 * 3))  # the client plans shards
    process, metrics = submit_to_cluster(
        train_arguments(tmp_path / "data", tmp_path / "out", "--epochs", 1)
    )
    assert process.returncode == 0, process.stderr
    assert metrics["shards"]["count"] == 6
    store = cluster.redis()
    shards = plan_shards(list_labelled_images(tmp_path / "data"), 15, 8, max_bytes=10 * 8 * 8 * 3)
    assert [len(shard["paths"]) for shard in shards] == [10] * 6
    for shard in shards:
        assert store.exists(shard["key"])
        labels = {path.split(".")[0] for path in shard["paths"]}
        assert labels == {"cat", "dog"}
