"""Workers that cannot see the data folder get the files' bytes through Redis."""

import json

import pytest

from tests.images import add_broken_files, make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration


def submit(cluster, *arguments):
    return run_submit(list(arguments), clean_environment() | cluster.environment())


def test_upload_starts_by_itself_when_workers_see_an_empty_folder(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    (tmp_path / "workers-view").mkdir()  # what the workers see: nothing
    out = tmp_path / "out"
    process = submit(cluster, "train", "--data", tmp_path / "data", "--epochs", 2,
                     "--image-size", 8, "--shard-size", 15, "--out", out,
                     "--worker-data-dir", tmp_path / "workers-view")  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert "cannot see" in process.stderr and "uploaded 3 of 3 shards" in process.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images_used"] == 40 and metrics["test_accuracy"] >= 0.9
    assert list(cluster.redis().scan_iter(match="catdog:upload:*")) == []  # bytes dropped


def test_uploaded_shards_keep_their_keys_and_their_rejections(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=20)
    broken = add_broken_files(tmp_path / "data", tmp_path / "outside")
    common = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    uploaded = submit(cluster, *common, "--upload", "--out", tmp_path / "first")
    assert uploaded.returncode == 0, uploaded.stderr
    first = json.loads((tmp_path / "first" / "metrics.json").read_text())
    rejected = {item["path"]: item["reason"] for item in first["images_rejected"]}
    assert set(rejected) == set(broken)
    assert "outside the data folder" in rejected["cat.905.jpg"]  # never uploaded
    assert first["shards"]["reused"] == 0

    from_disk = submit(cluster, *common, "--out", tmp_path / "second")
    assert from_disk.returncode == 0, from_disk.stderr
    second = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert second["shards"]["reused"] == second["shards"]["count"] == first["shards"]["count"]
    assert second["images_used"] == first["images_used"] == 40
