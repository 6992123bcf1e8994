"""A training job's state in Redis: one runner at a time, checkpoints, the final result.

Celery may deliver a task twice (a worker died, the visibility timeout passed).
Training is made safe to repeat: a lock per job lets one copy train while the
other waits; a checkpoint after every epoch lets a new copy go on from the
last finished epoch; a stored result makes a finished job return at once.
"""

import json
import threading
import time
import uuid

from catdog_queue.shared import settings
from catdog_queue.shared.blobs import BlobStore
from catdog_queue.shared.redis_client import wait_for_replica

WAIT_INTERVAL_S = 1.0
# Ours: extend it. Gone: take it again. Another runner's: report it lost.
_RENEW_SCRIPT = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] or not holder then
    redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1
end
return 0
"""


class LockLost(RuntimeError):
    """Another runner took over this job (ours lapsed): this copy must stop quietly."""


class JobCancelled(RuntimeError):
    """``submit.py cancel`` asked this job to stop."""


class JobState:
    def __init__(
        self,
        redis_client,
        job_id: str,
        ttl_seconds: int,
        lock_ttl_seconds: int = settings.DEFAULT_LOCK_TTL_S,
    ):
        self.redis = redis_client
        self.job_id = job_id
        self.ttl_seconds = ttl_seconds
        # A runner that dies stops its heartbeat: its lock lapses after this.
        self.lock_ttl_seconds = lock_ttl_seconds
        self.token = uuid.uuid4().hex  # this runner, not this task id: copies share that
        self.prefix = f"catdog:job:{job_id}:"
        self._heartbeat_stop = threading.Event()
        self._heartbeat = None

    def cancel(self) -> None:
        self.redis.set(self.prefix + "cancel", "1", ex=self.ttl_seconds)

    def uncancel(self) -> None:
        self.redis.delete(self.prefix + "cancel")

    def cancelled(self) -> bool:
        return bool(self.redis.exists(self.prefix + "cancel"))

    def stop_if_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def result(self) -> dict | None:
        stored = self.redis.get(self.prefix + "result")
        return None if stored is None else json.loads(stored)

    def save_result(self, result: dict) -> None:
        checkpoint_chunks = BlobStore(self.redis).chunk_keys_at(self.prefix + "checkpoint")
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.set(self.prefix + "result", json.dumps(result), ex=self.ttl_seconds)
        pipeline.delete(self.prefix + "checkpoint", self.prefix + "checkpoint-state")
        pipeline.execute()
        # The result must outlive a failover: a re-delivered task returns it.
        wait_for_replica(self.redis)
        if checkpoint_chunks:
            self.redis.delete(*checkpoint_chunks)

    def acquire(self, on_wait=None, timeout_s: float | None = None) -> bool:
        """Take the job's lock, waiting while another runner holds it.

        Returns False if the job finished while waiting (its result is stored).
        """
        started = time.monotonic()
        lock_key = self.prefix + "lock"
        while not self.redis.set(lock_key, self.token, nx=True, ex=self.lock_ttl_seconds):
            if self.result() is not None:
                return False
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"job {self.job_id} is locked by another runner")
            if on_wait is not None:
                on_wait()
            time.sleep(WAIT_INTERVAL_S)
        if self.result() is not None:  # finished between our last look and the lock
            self.redis.delete(lock_key)
            return False
        self._heartbeat_stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="job-lock", daemon=True)
        self._heartbeat.start()
        return True

    def _beat(self) -> None:
        """Keep the lock alive from a thread, so long steps (evaluation) cannot lose it."""
        while not self._heartbeat_stop.wait(self.lock_ttl_seconds / 3):
            try:
                self.renew()
            except Exception:  # a passing Redis error (a restart): the next beat tries again
                pass

    def renew(self) -> bool:
        """Extend our lock, or take it again if it vanished; False if another runner has it.

        A Redis that restarted without the lock key (or whose key expired while
        it was down) must not stop the only runner: the lock is simply taken
        again. Only a lock held by another runner's token means ours is lost.
        (redis-py's ``Lock`` cannot do this: its ``extend`` and ``reacquire`` raise
        ``LockNotOwnedError`` once the key is gone, and its ``acquire`` cannot stop
        waiting when the job's result appears, as ``acquire`` here does.)
        """
        return bool(self.redis.eval(_RENEW_SCRIPT, 1, self.prefix + "lock", self.token,
                                    self.lock_ttl_seconds))  # fmt: skip

    def holds_lock(self) -> bool:
        return self.redis.get(self.prefix + "lock") == self.token.encode()

    def refresh(self) -> None:
        """Raise if another runner took the lock over (ours lapsed): stop, do not race it."""
        if not self.renew():
            raise LockLost(f"job {self.job_id}: lost the lock to another runner")

    def release(self) -> None:
        self._heartbeat_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        # Delete only our own lock (compare-and-delete in one step).
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        )
        self.redis.eval(script, 1, self.prefix + "lock", self.token)

    def save_checkpoint(self, model_bytes: bytes, epoch: int, history: list[dict]) -> None:
        """Model (weights and optimizer state) and progress, both or neither.

        A model over the chunk size (a big MLP with Adam's state passes 512 MB)
        goes in chunks first; its manifest and the progress are then set in one
        transaction, and the previous checkpoint's chunks deleted after it.
        """
        blobs = BlobStore(self.redis)
        value, stale = blobs.stage(self.prefix + "checkpoint", model_bytes, self.ttl_seconds)
        state = json.dumps({"epoch": epoch, "history": history})
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.set(self.prefix + "checkpoint", value, ex=self.ttl_seconds)
        pipeline.set(self.prefix + "checkpoint-state", state, ex=self.ttl_seconds)
        pipeline.execute()
        # An epoch's work is worth one round trip to a replica; a failover
        # then loses no epoch that was saved.
        wait_for_replica(self.redis)
        if stale:
            self.redis.delete(*stale)

    def load_checkpoint(self) -> tuple[bytes, dict] | None:
        value, state = self.redis.mget(self.prefix + "checkpoint", self.prefix + "checkpoint-state")
        if value is None or state is None:
            return None
        model_bytes = BlobStore(self.redis).get(self.prefix + "checkpoint", value)
        if model_bytes is None:
            return None
        return model_bytes, json.loads(state)
