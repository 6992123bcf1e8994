"""``submit.py cluster`` in one process, jobs submitted and controlled from others."""

import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from catdog_queue.client.local_cluster import REPOSITORY_ROOT
from catdog_queue.client.local_cluster.cluster import client_app
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit, start_submit
from tests.integration.test_submit_cli import processes_mentioning, wait_until_gone

pytestmark = pytest.mark.integration


@contextmanager
def cluster_command(folder, *more):
    """A running ``submit.py cluster`` (``more``: its further options); yields (broker URL,
    data folder, its process)."""
    (folder / "data").mkdir()
    command = [sys.executable, "submit.py", "cluster", "--cpu-workers", "1", *map(str, more)]
    command += ["--cache-dir", str(folder / "cache"), "--data-root", str(folder / "data")]
    process = subprocess.Popen(
        command, cwd=REPOSITORY_ROOT, env=clean_environment(), stdout=subprocess.PIPE, text=True
    )
    broker = process.stdout.readline().strip().removeprefix("broker: ")
    assert broker.startswith("redis://client:"), broker
    lines = [process.stdout.readline() for _ in range(2)]  # the password note, the workers
    process.name = lines[-1].rsplit("/", 1)[-1].strip()  # its logs: .../logs/<name>
    assert process.name.startswith("cluster-"), lines
    try:
        yield broker, folder / "data", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


@pytest.fixture(scope="module")
def standing(tmp_path_factory):
    with cluster_command(tmp_path_factory.mktemp("standing")) as running:
        yield running


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


def status_of(broker, job_id) -> dict:
    process = submit(broker, "status", job_id)
    assert process.returncode == 0, process.stderr
    return dict(line.split(": ", 1) for line in process.stdout.splitlines())


def wait_for_phase(broker, job_id, phase, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while (status := status_of(broker, job_id))["phase"] != phase:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    return status


def test_a_job_behind_a_busy_gpu_waits_and_says_what_for(standing):
    """Busy is not missing: --wait-timeout applies only when no live worker consumes a queue."""
    broker, data_root, _ = standing
    make_separable_images(data_root / "busy", per_label=40)
    common = ["--data", data_root / "busy", "--image-size", 8]
    first = submit(broker, "train", *common, "--epochs", 100000, "--batch-size", 2, "--detach")
    first_id = first.stdout.split()[1]
    wait_for_phase(broker, first_id, "training")
    second, second_id = start_submit(
        ["train", *common, "--epochs", 2, "--wait-timeout", 5, "--broker", broker]
    )
    waited_for = f"queued: gpu busy with job {first_id} (1 ahead)"
    lines = []
    for line in second.stderr:
        lines.append(line)
        if line.startswith(waited_for):
            break
    time.sleep(8)  # longer than --wait-timeout: a busy worker is not a missing one
    assert second.poll() is None, "".join(lines) + second.stderr.read()
    status = status_of(broker, second_id)
    assert status["phase"] == "queued" and status["detail"] == waited_for
    assert status["shards"] == "1/1 decoded (1 from the cache)"  # the first job decoded them
    listed = submit(broker, "jobs").stdout.splitlines()
    assert any(row.startswith(first_id) and " training " in row for row in listed)

    assert submit(broker, "cancel", first_id).returncode == 0
    _, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr
    assert status_of(broker, first_id)["phase"] == "cancelled"
    assert status_of(broker, second_id)["phase"] == "done"


def test_compare_and_predict_jobs_detach_and_fetch_like_train(standing, tmp_path):
    broker, data_root, _ = standing
    make_separable_images(data_root / "kinds", per_label=15)
    common = ["--data", data_root / "kinds", "--image-size", 8, "--epochs", 2, "--detach"]
    compared = submit(broker, "compare", *common, "--optimizers", "sgd", "adam")
    assert compared.returncode == 0, compared.stderr
    compare_id = compared.stdout.split()[1]
    fetched = submit(broker, "fetch", compare_id, "--out", tmp_path / "compare")
    assert fetched.returncode == 0, fetched.stderr
    table = json.loads((tmp_path / "compare" / "compare.json").read_text())
    assert [row["state"] for row in table] == ["succeeded", "succeeded"]
    assert status_of(broker, compare_id)["phase"] == "done"

    model = tmp_path / "compare" / "adam" / "model.keras"
    predicted = submit(broker, "predict", "--model", model, "--data", data_root / "kinds",
                       "--detach")  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    predict_id = predicted.stdout.split()[1]
    fetched = submit(broker, "fetch", predict_id, "--out", tmp_path / "predict")
    assert fetched.returncode == 0, fetched.stderr
    rows = (tmp_path / "predict" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "id,label" and len(rows) == 31
    status = status_of(broker, predict_id)
    assert status["phase"] == "done" and status["result"] == "30 images"
    assert status["kind"] == "predict"


def test_resume_reports_the_new_outcome_not_an_old_failure(standing, tmp_path):
    broker, data_root, _ = standing
    make_separable_images(data_root / "again", per_label=10)
    done = submit(broker, "train", "--data", data_root / "again", "--image-size", 8,
                  "--epochs", 1, "--out", tmp_path / "first")  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = json.loads((tmp_path / "first" / "metrics.json").read_text())["job_id"]
    with client_app({"CELERY_BROKER_URL": broker}) as app:
        # What an earlier, failed attempt leaves behind (Celery keeps a success otherwise).
        app.backend.forget(f"{job_id}-train")
        app.backend.mark_as_failure(f"{job_id}-train", RuntimeError("an old failure"))
    assert status_of(broker, job_id)["phase"] == "failed"

    resumed = submit(broker, "resume", job_id, "--out", tmp_path / "second")
    assert resumed.returncode == 0, resumed.stderr
    assert "old failure" not in resumed.stderr
    assert "held-out accuracy" in resumed.stdout
    assert status_of(broker, job_id)["phase"] == "done"


def test_control_commands_need_a_cluster():
    process = run_submit(["jobs"])
    assert process.returncode == 2
    assert "needs a standing cluster" in process.stderr and "Traceback" not in process.stderr


def test_ctrl_c_stops_the_standing_cluster(tmp_path):
    with cluster_command(tmp_path) as (broker, _, process):
        port = broker.rsplit(":", 1)[1].split("/")[0]
        assert len(processes_mentioning(f"worker-{process.name}@")) >= 2  # cpu and gpu
        assert processes_mentioning(f"127.0.0.1:{port}") != []  # redis-server's title
    assert process.returncode == 0
    assert wait_until_gone(f"127.0.0.1:{port}") == []
    assert wait_until_gone(f"worker-{process.name}@") == []
