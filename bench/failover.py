"""``failover``: what the death of the Redis master costs a job, under the default settings.

One standing local cluster with Redis highly available (``--replicas 1``: a
master, a replica, three sentinels; one CPU worker, one GPU worker), the same
train job three times over the same images, side by side in one run:
without a fault; with the master SIGKILLed while shards decode; with the
master SIGKILLed mid-training (epoch 2). Shards are dropped between runs so
that each decodes. For each fault: the seconds from the kill until the
sentinels name a new master, until the job's next progress (a decode task
done, or an epoch more), and the job's extra wall time against the clean
run. The target: progress again within 30 s of the master's death.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import stats
from bench.procs import KAGGLE_TRAIN, REPOSITORY_ROOT, say
from catdog_queue.shared.waiting import wait_until

TARGET_PROGRESS_S = 30.0
POLL_S = 0.1
FAULTS = ("none", "master mid-decode", "master mid-training")


def failover(args) -> int:
    from catdog_queue.client.local_cluster import LocalCluster

    data = Path(args.data or KAGGLE_TRAIN)
    epochs = args.epochs
    with tempfile.TemporaryDirectory(prefix="catdog-failover-") as scratch:
        scratch = Path(scratch)
        with LocalCluster(
            scratch / "cache", scratch / "logs", "failover", cpu_concurrency=1,
            data_roots=[data], standing=True, replicas=1,
        ) as cluster:  # fmt: skip
            rows = []
            for fault in FAULTS:
                _drop_shards(cluster)
                say(f"failover: a job with fault {fault!r}")
                rows.append(_run(cluster, data, epochs, fault, scratch))
    clean = rows[0]["wall_s"]
    header = ["fault", "job s", "extra s", "kill to new master s", "kill to progress s"]
    table = [
        [row["fault"], row["wall_s"], row["wall_s"] - clean, row.get("new_master_s", "-"),
         row.get("progress_s", "-")]
        for row in rows
    ]  # fmt: skip
    print(f"{epochs} epochs on {data}; one CPU worker process, one GPU worker")
    print(stats.format_table(header, table))
    worst = max(row.get("progress_s", 0.0) for row in rows)
    verdict = stats.target_verdict(worst, TARGET_PROGRESS_S, at_most=True)
    print(f"target: progress again within {TARGET_PROGRESS_S:.0f}s of the death: {verdict}")
    print(f"failover: the job moved again at most {worst:.1f}s after the master died")
    return 0


def _drop_shards(cluster) -> None:
    store = cluster.redis()
    for key in store.scan_iter(match="catdog:shard:*", count=1000):
        store.delete(key)


def _run(cluster, data: Path, epochs: int, fault: str, scratch: Path) -> dict:
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
    if fault != "none":
        with cluster.client_app() as app:
            row |= _kill_the_master_and_time(cluster, app, job_id, fault)
    _, stderr = client.communicate(timeout=900)
    if client.returncode != 0:
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        raise RuntimeError(f"the job with fault {fault!r} failed: {errors or stderr[-2000:]}")
    row["wall_s"] = time.monotonic() - started
    return row


def _kill_the_master_and_time(cluster, app, job_id: str, fault: str) -> dict:
    """Kill the master at the fault's moment; seconds to a new master and to progress."""
    from catdog_queue.jobs.canvas import decode_task_id

    decodes = [app.AsyncResult(decode_task_id(job_id, index)) for index in range(40)]
    training = app.AsyncResult(f"{job_id}-train")
    if fault == "master mid-decode":
        _wait(lambda: any(_state(result) in ("STARTED", "DECODING") for result in decodes))
        before = _decoded(decodes)
        moved = lambda: _decoded(decodes) > before or _state(training) == "SUCCESS"  # noqa: E731
    else:
        _wait(lambda: _epoch(training) >= 2)
        before = _epoch(training)
        moved = lambda: _epoch(training) > before or _state(training) == "SUCCESS"  # noqa: E731
    old = cluster.redis_server.master_node()
    os.kill(old.process.pid, signal.SIGKILL)
    killed = time.monotonic()
    # Watched from a thread of its own: the task states below go through the
    # result backend, which waits out the failover itself.
    new_master = []
    watcher = threading.Thread(target=_watch_for_a_new_master, args=(cluster, old.port, new_master))
    watcher.start()
    _wait(moved, interval_s=POLL_S)
    progress_s = time.monotonic() - killed
    watcher.join(timeout=600)
    if not new_master:
        raise RuntimeError(f"the sentinels named no new master within 600 s ({fault})")
    return {"new_master_s": new_master[0] - killed, "progress_s": progress_s}


def _watch_for_a_new_master(cluster, old_port: int, found: list) -> None:
    if wait_until(lambda: _master_port(cluster) not in (None, old_port), 600, POLL_S):
        found.append(time.monotonic())


def _master_port(cluster) -> int | None:
    from catdog_queue.shared import sentinel

    try:
        return sentinel.master_address(cluster.url("admin"), timeout_s=1)[1]
    except Exception:
        return None


def _state(result) -> str:
    try:
        return result.state
    except Exception:  # the result backend is between masters
        return "UNKNOWN"


def _decoded(results) -> int:
    return sum(_state(result) == "SUCCESS" for result in results)


def _epoch(training) -> int:
    try:
        info = training.info
        return info.get("epoch", 0) if training.state == "TRAINING" else 0
    except Exception:
        return 0


def _wait(condition, timeout_s: float = 600, interval_s: float = 0.01) -> None:
    if not wait_until(condition, timeout_s, interval_s):
        raise RuntimeError(f"waited {timeout_s:.0f}s for the fault's moment or the progress")
