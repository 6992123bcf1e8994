"""Workers that cannot see the data folder get the files' bytes through Redis."""

import json
import signal
import time

import pytest

from catdog_queue.jobs.canvas import decode_task_id
from tests.faults import kill_worker
from tests.images import add_broken_files, make_separable_images
from tests.integration.conftest import clean_environment, run_submit, start_submit

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


def wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def upload_job(tmp_path, out: str) -> list:
    """A train job of two shards, uploaded: the workers' view of the data is an empty folder."""
    make_separable_images(tmp_path / "data", per_label=20)
    (tmp_path / "workers-view").mkdir()
    return ["train", "--data", tmp_path / "data", "--epochs", 2, "--image-size", 8,
            "--shard-size", 20, "--upload", "--worker-data-dir", tmp_path / "workers-view",
            "--out", tmp_path / out]  # fmt: skip


def test_shards_of_an_upload_job_lost_before_training_are_uploaded_again(
    cluster, cluster_app, tmp_path
):
    """The workers cannot read the files, so the client sends them again."""
    arguments = upload_job(tmp_path, "out")
    kill_worker(cluster, "gpu-worker", signal.SIGSTOP)  # training waits while shards vanish
    try:
        process, job_id = start_submit(arguments, clean_environment() | cluster.environment())
        decodes = [cluster_app.AsyncResult(decode_task_id(job_id, index)) for index in (0, 1)]
        wait_for(lambda: all(result.state == "SUCCESS" for result in decodes))
        keys = [result.result["key"] for result in decodes]
        assert cluster.redis().delete(*keys) == 2  # evicted, or a Redis without persistence
    finally:
        kill_worker(cluster, "gpu-worker", signal.SIGCONT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert stderr.count("uploaded 2 of 2 shards") == 2, stderr  # at first, and once lost
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["images_used"] == 40 and metrics["test_accuracy"] >= 0.9


def test_an_upload_job_whose_client_died_is_resumed_uploading_what_was_lost(
    cluster, cluster_app, tmp_path
):
    arguments = upload_job(tmp_path, "first")
    environment = clean_environment() | cluster.environment()
    kill_worker(cluster, "gpu-worker", signal.SIGSTOP)
    try:
        process, job_id = start_submit(arguments, environment)
        decodes = [cluster_app.AsyncResult(decode_task_id(job_id, index)) for index in (0, 1)]
        wait_for(lambda: all(result.state == "SUCCESS" for result in decodes))
        process.kill()  # the client is gone; then so are the shards
        process.communicate(timeout=60)
        assert cluster.redis().delete(*(result.result["key"] for result in decodes)) == 2
    finally:
        kill_worker(cluster, "gpu-worker", signal.SIGCONT)
    resumed = run_submit(["resume", job_id, "--out", tmp_path / "second"], environment)
    assert resumed.returncode == 0, resumed.stderr
    assert "uploaded 2 of 2 shards" in resumed.stderr
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert metrics["job_id"] == job_id and metrics["images_used"] == 40
