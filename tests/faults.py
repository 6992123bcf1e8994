"""Faults the tests inflict on a local cluster's processes: real signals, real restarts."""

import json
import os
import signal

from catdog_queue.client.local_cluster.processes import signal_group
from catdog_queue.shared.waiting import wait_until


def kill_worker(cluster, role: str, signal_number=signal.SIGKILL) -> None:
    """Signal every process of one worker (its pool children too); wait if it was fatal."""
    process = cluster.processes[role]
    signal_group(process.pid, signal_number)
    if signal_number in (signal.SIGKILL, signal.SIGTERM):
        process.wait(timeout=30)
        del cluster.processes[role]


def pool_children(cluster, role: str) -> list[int]:
    """Process ids of a prefork worker's pool children."""
    parent = cluster.processes[role].pid
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                children.append(int(entry))
    return children


def restart_redis(cluster, signal_number=signal.SIGTERM, timeout_s: float = 60) -> None:
    """Stop the cluster's redis-server; its keeper starts it again on the same port."""
    state_path = cluster.redis_server.folder.state
    old_pid = json.loads(state_path.read_text())["redis_pid"]
    os.kill(old_pid, signal_number)

    def back_again() -> bool:
        try:
            state = json.loads(state_path.read_text())
            return state.get("redis_pid") != old_pid and cluster.redis().ping()
        except Exception:
            return False  # between the old server and the new one

    assert wait_until(back_again, timeout_s=timeout_s, interval_s=0.1), "redis did not come back"


def signal_master(cluster, signal_number=signal.SIGKILL):
    """Signal the Redis server the sentinels name as master; returns its node."""
    master = cluster.redis_server.master_node()
    assert master is not None and master.alive(), "the sentinels name no live master"
    os.kill(master.process.pid, signal_number)
    return master


def wait_for_another_master(cluster, old_port: int, timeout_s: float = 60) -> int:
    """Until the sentinels name a master other than ``old_port``; returns its port."""
    from catdog_queue.shared import sentinel

    named = []

    def another_master() -> bool:
        try:
            named.append(sentinel.master_address(cluster.url("admin"))[1])
        except Exception:
            return False  # the sentinels are between masters
        return named[-1] != old_port

    assert wait_until(another_master, timeout_s=timeout_s, interval_s=0.1), (
        f"no failover from port {old_port} in {timeout_s}s\n{sentinel_logs(cluster)}"
    )
    return named[-1]


def sentinel_logs(cluster, lines: int = 60) -> str:
    """The last lines of every sentinel's and data server's log: why a failover did or not."""
    texts = []
    for log in sorted((cluster.redis_server.root.parent / "logs").glob("*.log")):
        if log.name.startswith(("sentinel", "redis-")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            texts.append(f"--- {log.name}\n" + "\n".join(tail))
    return "\n".join(texts)


def start_to(cluster, arguments):
    """``submit.py`` in the background against ``cluster``; returns (process, job id)."""
    from tests.integration.conftest import clean_environment, start_submit

    return start_submit(arguments, clean_environment() | cluster.environment())


def finish(process, out, timeout=300) -> dict:
    """Wait for a ``start_to`` process to succeed; returns its metrics."""
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr
    return json.loads((out / "metrics.json").read_text())


def wait_for(condition, timeout=120, interval=0.05, explain=lambda: ""):
    """Poll ``condition`` until it holds; fail, with ``explain()``, after ``timeout`` s."""
    assert wait_until(condition, timeout_s=timeout, interval_s=interval), (
        f"timed out waiting\n{explain()}"
    )


def logs(cluster) -> str:
    """Every log of the cluster's processes, as one text."""
    return "\n".join(log.read_text(errors="replace") for log in cluster.log_dir.glob("*.log"))
