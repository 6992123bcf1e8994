"""QueueWatch: busy workers are waited for, a queue nobody consumes is given up on."""

import json

import pytest

from catdog_queue.client.follow import JobFailed
from catdog_queue.client.queue_watch import QueueWatch, queued_ahead
from catdog_queue.shared.registry import WorkerEntry


class FakeBroker:
    """The two list commands QueueWatch uses, over lists kept like kombu's (LPUSH, BRPOP)."""

    def __init__(self, queues=None):
        self.queues = queues or {}

    def lrange(self, name, start, end):
        items = self.queues.get(name, [])
        return items[start:] if end == -1 else items[start : end + 1]

    def llen(self, name):
        return len(self.queues.get(name, []))


def message(task_id: str) -> bytes:
    return json.dumps({"headers": {"id": task_id}, "body": "..."}).encode()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def gpu_worker(*running_jobs) -> WorkerEntry:
    tasks = [{"id": f"{job}-train", "name": "catdog.train", "job": job, "running": True}
             for job in running_jobs]  # fmt: skip
    return WorkerEntry("gpu-1@host", ["gpu"], 1, 0.0, tasks)


def watch_with(workers, broker=None, timeout=60.0):
    notes, clock = [], Clock()
    watch = QueueWatch(broker or FakeBroker(), timeout, note=notes.append, interval_s=0.0,
                       clock=clock, workers=lambda _: workers)  # fmt: skip
    return watch, notes, clock


def test_a_busy_worker_is_waited_for_however_long():
    broker = FakeBroker({"gpu": [message("mine-train"), message("other-train")]})
    watch, notes, clock = watch_with([gpu_worker("big-job")], broker, timeout=10)
    for _ in range(100):
        clock.now += 5  # 500 s, fifty times the time-out
        watch("gpu", ["mine-train"])
    assert notes == ["queued: gpu busy with job big-job (2 ahead)"]  # said once


def test_a_queue_nobody_consumes_fails_after_the_wait_timeout_naming_it():
    watch, notes, clock = watch_with([], timeout=10)
    watch("gpu", ["mine-train"])
    assert "no live worker consumes queue 'gpu' yet; waiting up to 10s" in notes[0]
    clock.now = 9
    watch("gpu", ["mine-train"])
    clock.now = 11
    command = r"-Q gpu --without-gossip --without-mingle -P prefork -c 1"
    with pytest.raises(JobFailed, match=rf"no worker consumes queue 'gpu' .*{command}"):
        watch("gpu", ["mine-train"])


def test_a_worker_that_comes_back_resets_the_wait():
    workers = []
    watch, _, clock = watch_with(workers, timeout=10)
    watch("gpu", ["t"])
    clock.now = 8
    workers.append(gpu_worker())
    watch("gpu", ["t"])
    workers.clear()
    clock.now = 16  # 16 s since the first look, but only 8 since the worker went
    watch("gpu", ["t"])
    clock.now = 27
    with pytest.raises(JobFailed):
        watch("gpu", ["t"])


def test_without_a_timeout_a_local_cluster_waits_and_checks_its_own_workers():
    checks = []
    watch = QueueWatch(FakeBroker(), None, also=lambda: checks.append(1), workers=lambda _: [])
    for _ in range(3):
        watch("gpu", ["t"])
    assert len(checks) == 3


def test_tasks_ahead_are_those_to_the_right_of_ours():
    queue = [message("later"), message("mine-2"), message("mine-1"), message("a"), message("b")]
    broker = FakeBroker({"cpu": queue})
    assert queued_ahead(broker, "cpu", ["mine-1", "mine-2"]) == 2  # a and b go first
    assert queued_ahead(broker, "cpu", ["not-sent-yet"]) == 5
    assert queued_ahead(FakeBroker(), "cpu", ["x"]) == 0
