"""``submit.py cluster`` in one process, jobs submitted and controlled from others."""

import signal
import subprocess
import sys
import time

import pytest

from client.local_cluster import REPOSITORY_ROOT
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit
from tests.integration.test_submit_cli import processes_mentioning, wait_until_gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standing(tmp_path_factory):
    """A running ``submit.py cluster``; yields (broker URL, data folder, its process)."""
    folder = tmp_path_factory.mktemp("standing")
    (folder / "data").mkdir()
    command = [sys.executable, "submit.py", "cluster", "--cpu-workers", "1"]
    command += ["--cache-dir", str(folder / "cache"), "--data-root", str(folder / "data")]
    process = subprocess.Popen(
        command, cwd=REPOSITORY_ROOT, env=clean_environment(), stdout=subprocess.PIPE, text=True
    )
    broker = process.stdout.readline().strip().removeprefix("broker: ")
    assert broker.startswith("redis://:"), broker
    yield broker, folder / "data", process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def submit(broker, *arguments):
    return run_submit([*arguments, "--broker", broker])


def test_detach_status_jobs_fetch(standing, tmp_path):
    broker, data_root, _ = standing
    make_separable_images(data_root / "small", per_label=15)
    detached = submit(broker, "train", "--data", data_root / "small", "--epochs", 3,
                      "--image-size", 8, "--detach")  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    job_id = detached.stdout.split()[1]
    assert f"python submit.py status {job_id}" in detached.stdout

    fetched = submit(broker, "fetch", job_id, "--out", tmp_path / "out")
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "out" / "model.keras").exists()
    assert "held-out accuracy" in fetched.stdout

    status = submit(broker, "status", job_id)
    assert status.returncode == 0, status.stderr
    assert "phase: done" in status.stdout and "shards: 1/1 decoded" in status.stdout
    listed = submit(broker, "jobs")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(job_id))
    assert row.split()[1:3] == ["train", "done"]


def test_cancel_stops_a_running_training(standing):
    broker, data_root, _ = standing
    make_separable_images(data_root / "long", per_label=100)
    detached = submit(broker, "train", "--data", data_root / "long", "--epochs", 100000,
                      "--image-size", 8, "--batch-size", 2, "--detach")  # fmt: skip
    job_id = detached.stdout.split()[1]
    deadline = time.monotonic() + 120
    while "phase: training" not in submit(broker, "status", job_id).stdout:
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.5)
    cancelled = submit(broker, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    fetched = submit(broker, "fetch", job_id)
    assert fetched.returncode == 1
    assert "JobCancelled" in fetched.stderr and "was cancelled" in fetched.stderr
    assert "phase: cancelled" in submit(broker, "status", job_id).stdout


def test_control_commands_need_a_cluster():
    process = run_submit(["jobs"])
    assert process.returncode == 2
    assert "needs a standing cluster" in process.stderr and "Traceback" not in process.stderr


def test_ctrl_c_stops_the_standing_cluster(standing):
    broker, _, process = standing
    port = broker.rsplit(":", 1)[1].split("/")[0]
    assert len(processes_mentioning("worker-cluster-")) >= 2  # cpu and gpu workers
    assert processes_mentioning(f"127.0.0.1:{port}") != []  # redis-server's title
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert wait_until_gone(f"127.0.0.1:{port}") == []
    assert wait_until_gone("worker-cluster-") == []
