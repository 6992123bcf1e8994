"""Faults, with real signals against real worker processes: the job still completes.

These tests get a cluster of their own: Redis re-delivers unacknowledged tasks
after 10 s (not 12 h) and a dead runner's training lock lapses after 4 s, so
recovery happens within a test's patience. Two GPU workers let one take over
from the other.
"""

import json
import os
import signal
import time

import pytest

from client import follow as waiting
from client.local_cluster import LocalCluster
from jobs import train as train_job
from jobs.canvas import decode_task_id
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit, start_submit

pytestmark = pytest.mark.integration

FAST_RECOVERY = {"CATDOG_VISIBILITY_TIMEOUT_HOURS": str(10 / 3600), "CATDOG_LOCK_TTL_S": "4"}


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault-cluster")
    with LocalCluster(
        folder / "cache",
        folder / "logs",
        "faults",
        cpu_concurrency=2,
        data_roots=[tmp_path_factory.getbasetemp()],
        extra_environment=FAST_RECOVERY,
        gpu_workers=2,
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def fault_app(fault_cluster):
    """A client app of the fault cluster. Celery prefers CELERY_BROKER_URL and
    CELERY_RESULT_BACKEND from the environment over its configuration, so both
    point here while these tests run."""
    from celery import Celery

    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, fault_cluster.url()))
    app = Celery("fault-tests")
    app.config_from_object("celeryconfig")
    app.conf.update(broker_url=fault_cluster.url(), result_backend=fault_cluster.url())
    yield app
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def start_to(cluster, arguments):
    return start_submit(arguments, clean_environment() | cluster.environment() | FAST_RECOVERY)


def submit_to(cluster, arguments):
    environment = clean_environment() | cluster.environment() | FAST_RECOVERY
    return run_submit(arguments, environment)


def finish(process, out, timeout=300) -> dict:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr
    return json.loads((out / "metrics.json").read_text())


def wait_for(condition, timeout=120, interval=0.05, explain=lambda: ""):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting\n{explain()}"
        time.sleep(interval)


def _logs(cluster) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(cluster.log_dir.glob("*.log"))
    )


def test_duplicate_deliveries_train_once(fault_cluster, fault_app, tmp_path):
    """Two copies of one training task at once: one trains, the other waits for it."""
    make_separable_images(tmp_path / "data", per_label=30)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    process, _ = start_to(fault_cluster, [*arguments, "--out", out])
    finish(process, out)
    record = _record_of(fault_cluster, out)
    job_id = f"duplicate-{tmp_path.name}"
    options = record["options"] | {"epochs": 30, "batch_size": 2}
    (part,) = record["parts"]
    copies = [
        fault_app.send_task(
            "catdog.train",
            args=(job_id, part["data_root"], part["shards"], options),
            task_id=f"{job_id}-copy-{number}",
        )
        for number in (1, 2)
    ]
    seen_waiting = set()

    def both_done() -> bool:
        seen_waiting.update(copy.id for copy in copies if copy.state == "WAITING")
        return all(copy.state in ("SUCCESS", "FAILURE") for copy in copies)

    wait_for(both_done, timeout=240, explain=lambda: _logs(fault_cluster))
    first, second = (copy.result for copy in copies)
    assert [copy.state for copy in copies] == ["SUCCESS", "SUCCESS"]
    differing = {k for k in first["metrics"] if first["metrics"][k] != second["metrics"].get(k)}
    assert first == second, differing  # the same run's metrics and artifact keys
    assert len(seen_waiting) == 1
    logs = "".join(
        (fault_cluster.log_dir / f"{role}.log").read_text()
        for role in ("gpu-worker", "gpu-worker-2")
    )
    assert logs.count(f"job {job_id}: held-out accuracy") == 1
    waiting.release_results(fault_app, [copy.id for copy in copies])


def test_cpu_worker_killed_mid_decode_job_completes_counting_each_file_once(
    fault_cluster, fault_app, tmp_path
):
    make_separable_images(tmp_path / "data", per_label=150, side=64)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--shard-size", 10, "--epochs", 1]
    process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 8, "--out", out])
    decodes = [fault_app.AsyncResult(decode_task_id(job_id, index)) for index in range(30)]
    wait_for(lambda: any(result.state != "PENDING" for result in decodes))
    fault_cluster.kill("cpu-worker")
    finished_before_the_kill = sum(result.state == "SUCCESS" for result in decodes)
    fault_cluster.start_worker("cpu-worker")

    metrics = finish(process, out)
    assert finished_before_the_kill < 30
    assert metrics["images_total"] == metrics["images_used"] == 300
    assert metrics["images_rejected"] == []
    assert metrics["train_images"] + metrics["test_images"] == 300
    assert metrics["shards"]["count"] == 30


def test_gpu_worker_killed_mid_training_resumes_from_its_last_epoch(
    fault_cluster, fault_app, tmp_path
):
    make_separable_images(tmp_path / "data", per_label=100)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 40, "--batch-size", 2]
    process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 16, "--out", out])
    training = fault_app.AsyncResult(train_job.train_task_id(job_id))

    def trained_epochs() -> int:
        info = training.info
        return info.get("epoch", 0) if training.state == "TRAINING" else 0

    wait_for(lambda: trained_epochs() >= 3)
    runner = next(
        role
        for role in ("gpu-worker", "gpu-worker-2")
        if f"job {job_id}: assembled" in (fault_cluster.log_dir / f"{role}.log").read_text()
    )
    fault_cluster.kill(runner)
    epochs_before_the_kill = trained_epochs()
    # Redis would deliver the task again by itself, but only after kombu's restore
    # cycle (up to ~100 s); `resume` sends it again at once.
    resumed = submit_to(fault_cluster, ["resume", job_id, "--out", tmp_path / "resumed"])
    assert resumed.returncode == 0, resumed.stderr

    metrics = finish(process, out)
    fault_cluster.start_worker(runner)
    assert metrics["resumed_from_epoch"] >= 3
    assert metrics["resumed_from_epoch"] >= epochs_before_the_kill - 1
    assert metrics["epochs_run"] == len(metrics["history"]) == 40
    assert metrics["test_accuracy"] >= 0.9


def test_shards_lost_before_training_are_decoded_again(fault_cluster, fault_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=30)
    for role in ("gpu-worker", "gpu-worker-2"):
        fault_cluster.kill(role, signal.SIGSTOP)
    try:
        out = tmp_path / "out"
        arguments = ["train", "--data", tmp_path / "data", "--shard-size", 10, "--epochs", 2]
        process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 8, "--out", out])
        decodes = [fault_app.AsyncResult(decode_task_id(job_id, i)) for i in range(6)]
        wait_for(lambda: all(result.state == "SUCCESS" for result in decodes))
        store = fault_cluster.redis()
        lost = [decodes[1].result["key"], decodes[4].result["key"]]
        assert store.delete(*lost) == 2  # what an eviction or a restart without saving does
    finally:
        for role in ("gpu-worker", "gpu-worker-2"):
            fault_cluster.kill(role, signal.SIGCONT)
    metrics = finish(process, out)
    assert metrics["shards_redecoded"] == 2
    assert metrics["images_used"] == 60
    assert all(store.exists(key) for key in lost)


def _record_of(cluster, out):
    job_id = json.loads((out / "metrics.json").read_text())["job_id"]
    return json.loads(cluster.redis().get(f"catdog:job:{job_id}:record"))


def test_no_gpu_worker_is_reported_by_queue_name(fault_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=5)
    for role in ("gpu-worker", "gpu-worker-2"):
        fault_cluster.kill(role)
    try:
        out = tmp_path / "out"
        arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
        process, _ = start_to(fault_cluster, [*arguments, "--wait-timeout", 6, "--out", out])
        started = time.monotonic()
        _, stderr = process.communicate(timeout=120)
    finally:
        for role in ("gpu-worker", "gpu-worker-2"):
            fault_cluster.start_worker(role)
    assert process.returncode == 1
    assert time.monotonic() - started < 60
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: no worker consumes queue 'gpu'"), stderr
    assert "Traceback" not in stderr
