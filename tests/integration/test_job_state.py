"""JobState against a real Redis server: one runner at a time, a lock that survives a
restart of Redis, checkpoints, results and the cancel flag."""

import pytest
import redis

from catdog_queue.shared.job_state import JobCancelled, JobState, LockLost
from tests.plain_redis import plain_redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    with plain_redis_server(tmp_path_factory.mktemp("job-state")) as port:
        client = redis.Redis(port=port)
        yield client
        client.close()


def state(client, job_id, lock_ttl=30):
    return JobState(client, job_id, ttl_seconds=60, lock_ttl_seconds=lock_ttl)


def test_one_runner_at_a_time(redis_client):
    first, second = state(redis_client, "one"), state(redis_client, "one")
    assert first.acquire()
    with pytest.raises(TimeoutError, match="locked by another runner"):
        second.acquire(timeout_s=1.5)
    first.release()
    assert second.acquire(timeout_s=5)
    second.release()


def test_a_lock_that_vanished_with_a_redis_restart_is_taken_again(redis_client):
    runner = state(redis_client, "restart")
    assert runner.acquire()
    try:
        redis_client.delete("catdog:job:restart:lock")  # a Redis restarted without it
        runner.refresh()  # no LockLost: nobody else holds it
        assert runner.holds_lock()
    finally:
        runner.release()


def test_a_lock_another_runner_took_over_is_lost(redis_client):
    runner = state(redis_client, "taken")
    assert runner.acquire()
    try:
        redis_client.set("catdog:job:taken:lock", "someone-else")
        with pytest.raises(LockLost):
            runner.refresh()
    finally:
        runner.release()
    assert redis_client.get("catdog:job:taken:lock") == b"someone-else"  # not ours to delete


def test_a_dead_runners_lock_lapses(redis_client):
    redis_client.set("catdog:job:dead:lock", "a-runner-that-died", ex=1)
    waits = []
    runner = state(redis_client, "dead", lock_ttl=1)
    assert runner.acquire(on_wait=lambda: waits.append(1), timeout_s=10)
    runner.release()
    assert waits  # it waited for the lapse


def test_a_finished_job_is_not_trained_again(redis_client):
    runner = state(redis_client, "finished")
    runner.save_checkpoint(b"weights", 3, [{"loss": 1.0}] * 3)
    assert runner.load_checkpoint() == (b"weights", {"epoch": 3, "history": [{"loss": 1.0}] * 3})
    runner.save_result({"metrics": {"test_accuracy": 1.0}})
    assert runner.load_checkpoint() is None  # a result replaces the checkpoint
    assert state(redis_client, "finished").acquire() is False
    assert state(redis_client, "finished").result() == {"metrics": {"test_accuracy": 1.0}}


def test_cancel_and_resume(redis_client):
    runner = state(redis_client, "cancel")
    runner.stop_if_cancelled()
    runner.cancel()
    with pytest.raises(JobCancelled):
        runner.stop_if_cancelled()
    runner.uncancel()
    runner.stop_if_cancelled()
