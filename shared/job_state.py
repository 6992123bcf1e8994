"""A training job's state in Redis: one runner at a time, checkpoints, the final result.

Celery may deliver a task twice (a worker died, the visibility timeout passed).
Training is made safe to repeat: a lock per job lets one copy train while the
other waits; a checkpoint after every epoch lets a new copy go on from the
last finished epoch; a stored result makes a finished job return at once.
"""

import json
import time
import uuid

LOCK_TTL_S = 120  # a runner that stops refreshing (it died) loses the lock after this
WAIT_INTERVAL_S = 2.0


class JobState:
    def __init__(self, redis_client, job_id: str, ttl_seconds: int):
        self.redis = redis_client
        self.job_id = job_id
        self.ttl_seconds = ttl_seconds
        self.token = uuid.uuid4().hex  # this runner, not this task id: copies share that
        self.prefix = f"catdog:job:{job_id}:"

    def result(self) -> dict | None:
        stored = self.redis.get(self.prefix + "result")
        return None if stored is None else json.loads(stored)

    def save_result(self, result: dict) -> None:
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.set(self.prefix + "result", json.dumps(result), ex=self.ttl_seconds)
        pipeline.delete(self.prefix + "checkpoint", self.prefix + "checkpoint-state")
        pipeline.execute()

    def acquire(self, on_wait=None, timeout_s: float | None = None) -> bool:
        """Take the job's lock, waiting while another runner holds it.

        Returns False if the job finished while waiting (its result is stored).
        """
        started = time.monotonic()
        while not self.redis.set(self.prefix + "lock", self.token, nx=True, ex=LOCK_TTL_S):
            if self.result() is not None:
                return False
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"job {self.job_id} is locked by another runner")
            if on_wait is not None:
                on_wait()
            time.sleep(WAIT_INTERVAL_S)
        return True

    def refresh(self) -> None:
        """Keep the lock while alive; raise if another runner took it over."""
        if self.redis.get(self.prefix + "lock") != self.token.encode():
            raise RuntimeError(f"job {self.job_id}: lost the lock to another runner")
        self.redis.expire(self.prefix + "lock", LOCK_TTL_S)

    def release(self) -> None:
        # Delete only our own lock (compare-and-delete in one step).
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        )
        self.redis.eval(script, 1, self.prefix + "lock", self.token)

    def save_checkpoint(self, model_bytes: bytes, epoch: int, history: list[dict]) -> None:
        """Model (weights and optimizer state) and progress, both or neither."""
        state = json.dumps({"epoch": epoch, "history": history})
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.set(self.prefix + "checkpoint", model_bytes, ex=self.ttl_seconds)
        pipeline.set(self.prefix + "checkpoint-state", state, ex=self.ttl_seconds)
        pipeline.execute()

    def load_checkpoint(self) -> tuple[bytes, dict] | None:
        model_bytes, state = self.redis.mget(
            self.prefix + "checkpoint", self.prefix + "checkpoint-state"
        )
        if model_bytes is None or state is None:
            return None
        return model_bytes, json.loads(state)
