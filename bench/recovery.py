"""``recovery``: what a dead worker costs a job, under the settings a user gets.

One standing local cluster (two CPU workers of one process each, one GPU
worker), one train job three times over the same images, side by side in
one run: without a fault; with a CPU worker SIGKILLed while it decodes (it
stays dead: the other goes on); with the GPU worker SIGKILLed mid-training
and started again at once. Shards are dropped between runs so that each
decodes. The target: a fault costs at most 60 s more than the clean run.
Recovery comes from the workers' heartbeats and the watchdog that re-queues
a dead worker's tasks (workers/heartbeat.py), not from any short timeout.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import stats
from bench.procs import KAGGLE_TRAIN, REPOSITORY_ROOT, say
from catdog_queue.shared.waiting import wait_until

TARGET_EXTRA_S = 60.0
POLL_S = 0.01


def recovery(args) -> int:
    from catdog_queue.client.local_cluster import LocalCluster

    data = Path(args.data or KAGGLE_TRAIN)
    with tempfile.TemporaryDirectory(prefix="catdog-recovery-") as scratch:
        scratch = Path(scratch)
        with LocalCluster(
            scratch / "cache", scratch / "logs", "recovery", cpu_concurrency=1, cpu_workers=2,
            data_roots=[data], standing=True,
        ) as cluster:  # fmt: skip
            rows = []
            for fault in ("none", "cpu worker", "gpu worker"):
                for key in cluster.redis().scan_iter(match="catdog:shard:*", count=1000):
                    cluster.redis().delete(key)
                say(f"recovery: a job with fault {fault!r}")
                rows.append(_run(cluster, data, args.epochs, fault, scratch))
    clean = rows[0]["wall_s"]
    table = [
        [row["fault"], row["wall_s"], row["wall_s"] - clean, row.get("kill_to_done_s", "-")]
        for row in rows
    ]
    print(stats.format_table(["fault", "job s", "extra s", "kill to done s"], table))
    worst = max(row["wall_s"] - clean for row in rows)
    print(stats.target_verdict(worst, TARGET_EXTRA_S, at_most=True))
    print(f"recovery: the costliest fault added {worst:.1f}s to a {clean:.1f}s job")
    return 0


def _run(cluster, data: Path, epochs: int, fault: str, scratch: Path) -> dict:
    from catdog_queue.jobs.canvas import decode_task_id

    environment = os.environ | cluster.environment()
    command = [sys.executable, "submit.py", "train", "--data", str(data), "--epochs", str(epochs)]
    command += ["--shard-size", "250", "--out", str(scratch / fault.replace(" ", "-"))]
    started = time.monotonic()
    client = subprocess.Popen(
        command, cwd=REPOSITORY_ROOT, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    job_id = client.stderr.readline().split(":", 1)[0].removeprefix("job ")
    row = {"fault": fault}
    with cluster.client_app() as app:
        if fault == "cpu worker":
            decodes = [app.AsyncResult(decode_task_id(job_id, index)) for index in range(40)]
            _wait(lambda: any(_runs_on(result, "cpu-worker-recovery@") for result in decodes))
            _kill(cluster, "cpu-worker")
            killed = time.monotonic()
        elif fault == "gpu worker":
            training = app.AsyncResult(f"{job_id}-train")
            _wait(lambda: training.state == "TRAINING" and training.info.get("epoch", 0) >= 2)
            _kill(cluster, "gpu-worker")
            cluster.start_worker("gpu-worker")
            killed = time.monotonic()
    _, stderr = client.communicate(timeout=900)
    if client.returncode != 0:
        raise RuntimeError(f"the job with fault {fault!r} failed:\n{stderr[-2000:]}")
    done = time.monotonic()
    row["wall_s"] = done - started
    if fault != "none":
        row["kill_to_done_s"] = done - killed
    if fault == "cpu worker":
        cluster.start_worker("cpu-worker")
    return row


def _runs_on(result, hostname_prefix: str) -> bool:
    info = result.info if isinstance(result.info, dict) else {}
    worker = info.get("worker") or info.get("hostname") or ""
    return result.state in ("STARTED", "DECODING") and worker.startswith(hostname_prefix)


def _wait(condition, timeout_s: float = 600) -> None:
    if not wait_until(condition, timeout_s, POLL_S):
        raise RuntimeError("the fault's moment never came")


def _kill(cluster, role: str) -> None:
    """SIGKILL to every process of one worker, as the kernel's out-of-memory killer would."""
    from catdog_queue.client.local_cluster.processes import signal_group

    process = cluster.processes.pop(role)
    signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
