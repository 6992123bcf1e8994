"""Faults under the settings a user gets, with real signals against real processes.

The cluster here runs with the defaults (a 12-hour visibility timeout, the
training lock's settings.DEFAULT_LOCK_TTL_S): recovery comes from the workers' heartbeats and
the watchdog that re-queues a dead worker's tasks, not from short test
timeouts. Two CPU workers of one process each, so one can die while the
other goes on, and one GPU worker.
"""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from catdog_queue.client import follow
from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.jobs import train as train_job
from catdog_queue.jobs.canvas import decode_task_id
from catdog_queue.shared import dead_letters
from catdog_queue.workers import worker_command
from tests.fault_injection.sitecustomize import CRASH_MARK
from tests.faults import (
    finish,
    kill_worker,
    logs,
    pool_children,
    restart_redis,
    start_to,
    wait_for,
)
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, client_app, run_submit

pytestmark = pytest.mark.integration
FAULT_INJECTION = Path(__file__).parents[1] / "fault_injection"


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault-cluster")
    with LocalCluster(
        folder / "cache",
        folder / "logs",
        "faults",
        cpu_concurrency=1,
        cpu_workers=2,
        data_roots=[tmp_path_factory.getbasetemp()],
        standing=True,
        extra_environment={"PYTHONPATH": str(FAULT_INJECTION)},
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def fault_app(fault_cluster):
    with client_app(fault_cluster) as app:
        yield app


def held_by(app, task_ids, hostname_prefix: str) -> list[str]:
    """The tasks that a worker is running now, by their states' ``worker`` field."""
    held = []
    for task_id in task_ids:
        result = app.AsyncResult(task_id)
        info = result.info if isinstance(result.info, dict) else {}
        worker = info.get("worker") or info.get("hostname") or ""
        if result.state in ("STARTED", "DECODING") and worker.startswith(hostname_prefix):
            held.append(task_id)
    return held


def test_cpu_worker_killed_mid_decode_job_finishes_with_its_tasks_run_again(
    fault_cluster, fault_app, tmp_path
):
    make_separable_images(tmp_path / "data", per_label=150, side=300)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--shard-size", 20, "--epochs", 1]
    process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 8, "--out", out])
    decode_ids = [decode_task_id(job_id, index) for index in range(15)]
    victim = "cpu-worker-faults@"
    held_by_the_victim = []
    while not held_by_the_victim:
        wait_for(lambda: held_by(fault_app, decode_ids, victim) != [], interval=0.01)
        # Frozen first, so that what it holds cannot change before it dies; if its task
        # ended between the two looks, it goes on and the next one is caught.
        kill_worker(fault_cluster, "cpu-worker", signal.SIGSTOP)
        held_by_the_victim = held_by(fault_app, decode_ids, victim)
        if not held_by_the_victim:
            kill_worker(fault_cluster, "cpu-worker", signal.SIGCONT)
    kill_worker(fault_cluster, "cpu-worker")  # the other CPU worker goes on; this one stays dead
    killed_at = time.monotonic()
    try:
        metrics = finish(process, out)
        print(f"the job ended {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        fault_cluster.start_worker("cpu-worker")
    # The tasks the dead worker held were put back in the queue and done by the other.
    for task_id in held_by_the_victim:
        assert f"re-queued task {task_id}" in logs(fault_cluster)
        assert fault_app.AsyncResult(task_id).state == "SUCCESS"
    assert metrics["images_total"] == metrics["images_used"] == 300
    assert metrics["images_rejected"] == []
    assert metrics["train_images"] + metrics["test_images"] == 300
    assert metrics["shards"]["count"] == 15


def test_gpu_worker_killed_and_restarted_goes_on_from_its_checkpoint(
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

    wait_for(lambda: trained_epochs() >= 3, timeout=180, explain=lambda: logs(fault_cluster))
    kill_worker(fault_cluster, "gpu-worker")
    epochs_before_the_kill = trained_epochs()
    fault_cluster.start_worker("gpu-worker")  # no `resume`: the watchdog re-queues the task
    wait_for(lambda: trained_epochs() > epochs_before_the_kill, timeout=180,
             explain=lambda: logs(fault_cluster))  # fmt: skip
    metrics = finish(process, out)
    assert metrics["resumed_from_epoch"] >= 3
    assert metrics["resumed_from_epoch"] >= epochs_before_the_kill - 1
    assert metrics["epochs_run"] == len(metrics["history"]) == 40
    assert metrics["test_accuracy"] >= 0.9


def test_a_training_that_kills_its_process_is_tried_three_times_then_fails(
    fault_cluster, fault_app, tmp_path
):
    """Each try's pool process dies (as if out of memory): three tries, then a clear failure."""
    make_separable_images(tmp_path / "data", per_label=30)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 10000, "--batch-size", 2]
    process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 8, "--out", out])
    training = fault_app.AsyncResult(train_job.train_task_id(job_id))
    kills = []

    def kill_each_try():
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            if training.state == "TRAINING" and len(kills) < 5:
                children = pool_children(fault_cluster, "gpu-worker")
                for child in children:  # the pool process, not the worker's main process
                    os.kill(child, signal.SIGKILL)
                kills.append(children)
                wait_for(lambda: training.state != "TRAINING", timeout=60)
            time.sleep(0.1)

    killer = threading.Thread(target=kill_each_try)
    killer.start()
    _, stderr = process.communicate(timeout=300)
    killer.join()
    assert process.returncode == 1
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: training failed:"), stderr
    assert "WorkerLostError" in last_line and "signal 9" in last_line
    assert len(kills) == 3
    starts = logs(fault_cluster).count(f"start catdog.train job={job_id} ")
    assert starts == 3
    # Set aside with its reason, and never delivered again.
    task_id = train_job.train_task_id(job_id)
    (entry,) = [
        e for e in dead_letters.dead_letters(fault_cluster.redis()) if e["task_id"] == task_id
    ]
    assert "pool process died on every try" in entry["reason"] and "signal 9" in entry["reason"]
    status = run_submit(
        ["status", job_id, "--broker", fault_cluster.url()],
        clean_environment() | fault_cluster.environment(),
    )
    assert f"dead_letters: {task_id}" in status.stdout, status.stdout + status.stderr


def test_redis_restarted_mid_training_job_finishes(fault_cluster, fault_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=60)
    out = tmp_path / "out"
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 15, "--batch-size", 4]
    process, job_id = start_to(fault_cluster, [*arguments, "--image-size", 8, "--out", out])
    training = fault_app.AsyncResult(train_job.train_task_id(job_id))
    wait_for(lambda: training.state == "TRAINING", timeout=180, explain=lambda: logs(fault_cluster))
    restart_redis(fault_cluster)
    metrics = finish(process, out)
    assert metrics["epochs_run"] == 15 and metrics["test_accuracy"] >= 0.9
    assert metrics["images_used"] == 120


def test_duplicate_deliveries_train_once(fault_cluster, fault_app, tmp_path):
    """Two copies of one training task at once on two GPU workers: one trains, one waits."""
    fault_cluster.worker_arguments["gpu-worker-2"] = worker_command("gpu")[4:]
    fault_cluster.start_worker("gpu-worker-2")
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

    try:
        wait_for(both_done, timeout=240, explain=lambda: logs(fault_cluster))
    finally:
        kill_worker(fault_cluster, "gpu-worker-2", signal.SIGTERM)
        del fault_cluster.worker_arguments["gpu-worker-2"]
    first, second = (copy.result for copy in copies)
    assert [copy.state for copy in copies] == ["SUCCESS", "SUCCESS"]
    differing = {k for k in first["metrics"] if first["metrics"][k] != second["metrics"].get(k)}
    assert first == second, differing  # the same run's metrics and artifact keys
    assert len(seen_waiting) == 1
    assert logs(fault_cluster).count(f"job {job_id}: held-out accuracy") == 1
    follow.release_results(fault_app, [copy.id for copy in copies])


def _record_of(cluster, out):
    job_id = json.loads((out / "metrics.json").read_text())["job_id"]
    return json.loads(cluster.redis().get(f"catdog:job:{job_id}:record"))


def test_shards_lost_before_training_are_decoded_again(fault_cluster, fault_app, tmp_path):
    make_separable_images(tmp_path / "data", per_label=30)
    kill_worker(fault_cluster, "gpu-worker", signal.SIGSTOP)
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
        kill_worker(fault_cluster, "gpu-worker", signal.SIGCONT)
    metrics = finish(process, out)
    assert metrics["shards_redecoded"] == 2
    assert metrics["images_used"] == 60
    assert all(store.exists(key) for key in lost)


def test_no_gpu_worker_is_reported_by_queue_name(fault_cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=5)
    kill_worker(fault_cluster, "gpu-worker")
    try:
        out = tmp_path / "out"
        arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
        broker = ["--broker", fault_cluster.url(), "--wait-timeout", 6]
        process = run_submit([*arguments, *broker, "--out", out], clean_environment())
    finally:
        fault_cluster.start_worker("gpu-worker")
    assert process.returncode == 1
    last_line = process.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: no worker consumes queue 'gpu'"), process.stderr
    assert "-Q gpu --without-gossip --without-mingle -P prefork -c 1" in last_line
    assert "Traceback" not in process.stderr


def test_a_file_that_kills_its_decoding_process_is_rejected_on_the_third_try(
    fault_cluster, tmp_path
):
    """The first try dies on the poison; the second notes each file and dies on it again;
    the third rejects the poison, naming the crash, and decodes the rest."""
    make_separable_images(tmp_path / "data", per_label=20)
    poison = "cat.99.png"
    mark = PngInfo()
    mark.add_text("comment", CRASH_MARK.decode())  # fault_injection/sitecustomize.py dies on it
    Image.new("RGB", (16, 16)).save(tmp_path / "data" / poison, pnginfo=mark)
    deaths_before = _pool_deaths(fault_cluster)
    arguments = ["train", "--data", tmp_path / "data", "--epochs", 1, "--image-size", 8]
    process, job_id = start_to(fault_cluster, [*arguments, "--out", tmp_path / "out"])
    metrics = finish(process, tmp_path / "out")
    rejected = {item["path"]: item["reason"] for item in metrics["images_rejected"]}
    assert list(rejected) == [poison]
    assert "the process decoding this file died" in rejected[poison]
    assert metrics["images_used"] == 40
    assert logs(fault_cluster).count(f"start catdog.decode_shard job={job_id} ") == 3
    assert _pool_deaths(fault_cluster) - deaths_before == 2  # the fault happened, twice


def _pool_deaths(cluster) -> int:
    """Pool processes the CPU workers saw die of SIGKILL, by their logs."""
    return sum(
        (cluster.log_dir / f"{role}.log")
        .read_text(errors="replace")
        .count("exited with 'signal 9 (SIGKILL)'")
        for role in ("cpu-worker", "cpu-worker-2")
    )
