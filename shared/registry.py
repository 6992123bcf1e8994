"""Which workers are alive, what they consume and what they hold: one key per worker.

Every worker's main process writes ``catdog:worker:<hostname>`` every few
seconds from a thread of its own (``workers.heartbeat``), with a short
time-to-live: a worker that dies simply stops being listed. Busy workers
keep beating (the thread runs beside the task, and a prefork pool's main
process does no task work at all), so a client can tell a queue whose
workers are busy from a queue nobody consumes, and say what it waits for.
"""

import json
import time
from dataclasses import asdict, dataclass, field

KEY_PREFIX = "catdog:worker:"
BEAT_INTERVAL_S = 5.0
# Three missed beats and a worker is gone.
TTL_S = 3 * BEAT_INTERVAL_S


@dataclass
class WorkerEntry:
    hostname: str
    queues: list[str]
    pid: int
    beat_at: float
    # Tasks the worker holds (reserved or running): [{"id", "name", "job", "running"}].
    tasks: list[dict] = field(default_factory=list)

    def holds(self, task_id: str) -> bool:
        return any(task["id"] == task_id for task in self.tasks)

    def running_jobs(self) -> list[str]:
        return [task["job"] for task in self.tasks if task.get("running")]


def write_entry(redis_client, entry: WorkerEntry) -> None:
    redis_client.set(KEY_PREFIX + entry.hostname, json.dumps(asdict(entry)), ex=int(TTL_S))


def remove_entry(redis_client, hostname: str) -> None:
    redis_client.delete(KEY_PREFIX + hostname)


def live_workers(redis_client, now: float | None = None) -> list[WorkerEntry]:
    """Every worker whose last beat is younger than the time-to-live."""
    now = time.time() if now is None else now
    keys = sorted(redis_client.scan_iter(match=KEY_PREFIX + "*", count=1000))
    entries = []
    for raw in redis_client.mget(keys) if keys else []:
        if raw is None:
            continue  # expired between the scan and the read
        try:
            entry = WorkerEntry(**json.loads(raw))
        except (ValueError, TypeError):
            continue  # not ours, or from another version: ignored, expires by itself
        if now - entry.beat_at < TTL_S:
            entries.append(entry)
    return entries


def consumers(entries: list[WorkerEntry], queue: str) -> list[WorkerEntry]:
    return [entry for entry in entries if queue in entry.queues]
