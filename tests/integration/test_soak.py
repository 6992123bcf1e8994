"""A standing cluster shared by two clients for a few minutes, while things go wrong.

Two clients submit eight jobs (train, compare, predict; some followed, some
detached and fetched later) to one cluster, while a chaos loop kills a CPU
worker for good, kills the GPU worker mid-training and starts it again, and
restarts Redis. Every job must end done, or failed with the reason the test
planted (a folder whose dog images are all broken); the counts of every job
must add up; and no client command may outlive its bound. The figures go to
``soak.json`` in the test's folder and to the log.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from catdog_queue.client.local_cluster import REPOSITORY_ROOT, LocalCluster
from catdog_queue.shared import registry
from tests.faults import kill_worker, pool_children, restart_redis, wait_for
from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, client_app

pytestmark = pytest.mark.integration
COMMAND_BOUND_S = 240  # a client command still running then has hung: the test fails


class Client:
    """Runs ``submit.py`` commands against the cluster, timestamping every stderr line."""

    def __init__(self, cluster, name: str):
        self.environment = clean_environment() | cluster.environment()
        self.name = name
        self.commands = []

    def run(self, *arguments) -> dict:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "submit.py", *map(str, arguments)],
            cwd=REPOSITORY_ROOT,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines, out = [], []
        readers = [
            threading.Thread(
                target=lambda: lines.extend((time.monotonic(), line) for line in process.stderr)
            ),
            threading.Thread(target=lambda: out.append(process.stdout.read())),
        ]
        for reader in readers:
            reader.start()
        try:
            process.wait(timeout=COMMAND_BOUND_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"{self.name}: {arguments[:2]} outlived its bound") from None
        for reader in readers:
            reader.join()
        stdout = out[0]
        command = {
            "arguments": [str(argument) for argument in arguments],
            "returncode": process.returncode,
            "stdout": stdout,
            "stderr": "".join(line for _, line in lines),
            "seconds": time.monotonic() - started,
            "queue_wait_s": _queue_wait(lines),
        }
        self.commands.append(command)
        return command


def _queue_wait(lines) -> float:
    """From the first "waiting for a gpu worker" or "queued:" line to the gpu's first progress."""
    waiting = [moment for moment, line in lines if line.startswith(("queued:", "gpu: waiting"))]
    working = [
        moment
        for moment, line in lines
        if line.startswith(("train", "predict:", "gpu: assembling")) or " training" in line
    ]
    if not waiting or not working:
        return 0.0
    later = [moment for moment in working if moment >= waiting[0]]
    return (later[0] if later else waiting[-1]) - waiting[0]


def job_of(detached) -> str:
    """The id a detached submission printed: ``job <id> submitted``."""
    assert detached["returncode"] == 0, detached
    return detached["stdout"].split()[1]


@pytest.fixture
def soak_cluster(tmp_path):
    with LocalCluster(
        tmp_path / "cache",
        tmp_path / "logs",
        "soak",
        cpu_concurrency=1,
        cpu_workers=2,
        data_roots=[tmp_path],
        standing=True,
    ) as cluster:
        yield cluster


def make_data(root: Path) -> None:
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        make_separable_images(root / name, per_label=60, side=96, seed=seed)
    make_separable_images(root / "unlabelled", per_label=20, seed=4)
    for number, image in enumerate(sorted((root / "unlabelled").iterdir()), start=1):
        image.rename(root / "unlabelled" / f"{number}{image.suffix}")
    make_separable_images(root / "poison", per_label=30, seed=5)
    for dog in (root / "poison").glob("dog.*"):
        dog.write_bytes(dog.read_bytes()[:40])  # every dog broken: one label left


def first_client(client: Client, root: Path, out: Path) -> None:
    common = ["--image-size", 8, "--batch-size", 4]
    client.run("train", "--data", root / "a", *common, "--epochs", 60, "--out", out / "a")
    compared = client.run("compare", "--data", root / "c", *common, "--epochs", 8,
                          "--optimizers", "sgd", "adam", "--detach")  # fmt: skip
    client.run("predict", "--model", out / "a" / "model.keras", "--data", root / "unlabelled",
               "--out", out / "predict-1" / "predictions.csv")  # fmt: skip
    client.run("fetch", job_of(compared), "--out", out / "c")


def second_client(client: Client, root: Path, out: Path) -> None:
    common = ["--image-size", 8, "--batch-size", 4]
    detached = client.run("train", "--data", root / "b", *common, "--epochs", 60, "--detach")
    client.run("train", "--data", root / "poison", *common, "--epochs", 2,
               "--out", out / "poison")  # fmt: skip
    client.run("train", "--data", root / "a", *common, "--epochs", 5, "--seed", 7,
               "--out", out / "a-seed-7")  # fmt: skip
    client.run("fetch", job_of(detached), "--out", out / "b")
    predicted = client.run("predict", "--model", out / "b" / "model.keras",
                           "--data", root / "unlabelled", "--detach")  # fmt: skip
    client.run("fetch", job_of(predicted), "--out", out / "predict-2")


class Chaos(threading.Thread):
    """Kills a CPU worker holding a task, kills and restarts the GPU worker mid-training,
    restarts Redis while a training is in flight; records what each fault hit."""

    def __init__(self, cluster, app):
        super().__init__(daemon=True)
        self.cluster, self.app = cluster, app
        self.done = threading.Event()
        # Processes started here get their parent-death signal when this thread
        # ends (Linux ties it to the thread): it lives until the test says so.
        self.release = threading.Event()
        self.figures = {}
        self.error = None
        # cpu-worker-2's pool process is stopped until the kill: a task it takes stays
        # held, so the kill is sure to orphan one (the watchdog must re-queue it).
        self._wait_until_ready("cpu-worker-2-")
        for child in pool_children(cluster, "cpu-worker-2"):
            os.kill(child, signal.SIGSTOP)

    def _wait_until_ready(self, hostname_prefix: str, timeout_s: float = 120) -> None:
        """Until the worker's registry entry (written once it is ready) is there."""
        wait_for(
            lambda: any(
                worker.hostname.startswith(hostname_prefix)
                for worker in registry.live_workers(self.cluster.redis())
            ),
            timeout_s,
            explain=lambda: f"{hostname_prefix}* never became ready",
        )

    def run(self) -> None:
        try:
            self.figures["cpu_killed_task"] = self._a_task_held_by("cpu-worker-2-")
            kill_worker(self.cluster, "cpu-worker-2")  # for good: cpu-worker carries on
            self.figures["cpu_worker_killed_at"] = datetime.now()
            task_id, epoch = self._a_training_at(least_epoch=3)
            kill_worker(self.cluster, "gpu-worker")  # mid-training, by its task's own state
            self.cluster.start_worker("gpu-worker")
            restarted = time.monotonic()
            self.figures["gpu_killed_task"] = task_id
            self.figures["gpu_killed_at_epoch"] = epoch
            self._a_training_at(least_epoch=epoch + 1, task_id=task_id)  # the same one, on
            self.figures["gpu_recovery_s"] = time.monotonic() - restarted
            in_flight, _ = self._a_training_at(least_epoch=1)
            started = time.monotonic()
            restart_redis(self.cluster)
            self.figures["redis_restarted_during"] = in_flight
            self.figures["redis_restart_s"] = time.monotonic() - started
        except Exception as error:  # reported by the test, not lost in a thread
            self.error = error
        finally:
            self.done.set()
        self.release.wait()

    def _a_task_held_by(self, hostname_prefix: str, timeout_s: float = 180) -> str:
        """The id of a task that a worker's registry entry says it holds."""
        held = []

        def holds_a_task() -> bool:
            held[:] = [
                worker.tasks[0]["id"]
                for worker in registry.live_workers(self.cluster.redis())
                if worker.hostname.startswith(hostname_prefix) and worker.tasks
            ]
            return bool(held)

        wait_for(holds_a_task, timeout_s, 0.2, lambda: f"{hostname_prefix}* held no task")
        return held[0]

    def _a_training_at(self, least_epoch: int, task_id=None, timeout_s: float = 180):
        """``(task id, epoch)`` of a training task at ``least_epoch`` or later, from its state."""
        found = []

        def a_training_there() -> bool:
            for candidate in [task_id] if task_id else self._train_task_ids():
                result = self.app.AsyncResult(candidate)
                info = result.info if isinstance(result.info, dict) else {}
                if result.state == "TRAINING" and info.get("epoch", 0) >= least_epoch:
                    found.append((candidate, info["epoch"]))
                    return True
            return False

        wait_for(a_training_there, timeout_s, explain=lambda: f"no training at epoch {least_epoch}")
        return found[-1]

    def _train_task_ids(self) -> list[str]:
        keys = self.cluster.redis().scan_iter(match="celery-task-meta-*-train*", count=1000)
        return [key.decode().removeprefix("celery-task-meta-") for key in keys]


def test_two_clients_share_a_standing_cluster_through_faults(soak_cluster, tmp_path):
    make_data(tmp_path / "data")
    out = tmp_path / "out"
    clients = [Client(soak_cluster, "first"), Client(soak_cluster, "second")]
    started = time.monotonic()
    with client_app(soak_cluster) as app:
        chaos = Chaos(soak_cluster, app)
        chaos.start()
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [
                pool.submit(first_client, clients[0], tmp_path / "data", out),
                pool.submit(second_client, clients[1], tmp_path / "data", out),
            ]
            for run in runs:
                run.result()
        # Every fault happened while the clients ran: none is still waiting for its moment.
        assert chaos.done.is_set(), f"the faults did not all happen: {chaos.figures}"
        outcomes = {
            name: app.AsyncResult(chaos.figures[name]).state
            for name in ("cpu_killed_task", "gpu_killed_task", "redis_restarted_during")
            if name in chaos.figures
        }
    soak_seconds = time.monotonic() - started
    chaos.release.set()
    assert chaos.error is None, chaos.error
    logs = "\n".join(log.read_text(errors="replace") for log in soak_cluster.log_dir.glob("*.log"))
    figures = summarize(clients, chaos, soak_seconds, logs)
    (tmp_path / "soak.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))

    commands = [command for client in clients for command in client.commands]
    assert len(commands) == 10
    # The task the killed CPU worker held was re-queued by the watchdog and ran again.
    assert f"re-queued task {chaos.figures['cpu_killed_task']}" in logs
    assert outcomes == dict.fromkeys(outcomes, "SUCCESS") and len(outcomes) == 3, outcomes
    poison = next(c for c in commands if "poison" in " ".join(c["arguments"]))
    assert poison["returncode"] == 1
    assert "only images of ['cat'] remain" in poison["stderr"].splitlines()[-1]
    for command in commands:
        if command is not poison:
            assert command["returncode"] == 0, command
        assert "Traceback" not in command["stderr"]
    for name in ("a", "b", "a-seed-7", "c/sgd", "c/adam"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert metrics["images_used"] + len(metrics["images_rejected"]) == metrics["images_total"]
        assert metrics["images_used"] == 120 and metrics["test_accuracy"] >= 0.9
    # The training the GPU worker died in went on from its checkpoint, with no `resume`.
    every_run = {
        metrics["job_id"]: metrics
        for metrics in (json.loads(path.read_text()) for path in out.rglob("metrics.json"))
    }
    killed_job = chaos.figures["gpu_killed_task"].split("-train")[0]
    killed_runs = [m for job, m in every_run.items() if job.startswith(killed_job)]
    assert killed_runs and all(m["resumed_from_epoch"] >= 1 for m in killed_runs), chaos.figures
    for folder in ("predict-1", "predict-2"):
        rows = (out / folder / "predictions.csv").read_text().splitlines()
        assert len(rows) - 1 == 40  # every listed image predicted


def summarize(clients, chaos, soak_seconds, logs) -> dict:
    commands = [command for client in clients for command in client.commands]
    requeued = [line for line in logs.splitlines() if "re-queued task" in line]
    killed_at = chaos.figures["cpu_worker_killed_at"]
    requeued_after = [
        (datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f") - killed_at).total_seconds()
        for line in requeued
    ]
    return {
        "jobs_submitted": sum(
            c["arguments"][0] in ("train", "compare", "predict") for c in commands
        ),
        "commands_succeeded": sum(c["returncode"] == 0 for c in commands),
        "longest_queue_wait_s": round(max(c["queue_wait_s"] for c in commands), 1),
        "longest_command_s": round(max(c["seconds"] for c in commands), 1),
        "gpu_recovery_s": round(chaos.figures["gpu_recovery_s"], 1),
        "redis_restart_s": round(chaos.figures["redis_restart_s"], 1),
        "cpu_tasks_requeued": len(requeued),
        "cpu_requeue_after_kill_s": [round(seconds, 1) for seconds in requeued_after],
        "soak_s": round(soak_seconds, 1),
    }
