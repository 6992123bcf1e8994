"""Files that killed the process decoding them: found on a retry, then rejected.

When a decode task's pool process dies (out of memory, a crash in a
decoder), Celery tries the task again (``jobs.canvas.AFTER_A_CRASH``). A
retry decodes carefully: before each file it notes the file's name in
Redis. If that try dies too, the next one finds the name of the file that
was being decoded and rejects it with the reason, instead of dying on it a
third time. Normal tries note nothing: a round trip per file would cost more
than decoding it.
"""

CRASH_REASON = (
    "the process decoding this file died (killed, e.g. out of memory, or crashed)"
    " on an earlier try; it is not decoded again"
)
MARKER_TTL_S = 86400


class CrashGuard:
    def __init__(self, redis_client, shard_key: str):
        self.redis = redis_client
        self.current = f"catdog:decoding:{shard_key}:current"
        self.crashed = f"catdog:decoding:{shard_key}:crashed"
        culprit = self.redis.get(self.current)
        if culprit is not None:  # the last try died while decoding this file
            self.redis.sadd(self.crashed, culprit)
            self.redis.expire(self.crashed, MARKER_TTL_S)
        self.culprits = {
            name.decode("utf-8", "surrogateescape") for name in self.redis.smembers(self.crashed)
        }

    def before_each(self, relative_path: str) -> None:
        from catdog_queue.shared.data_access import ImageRejected

        if relative_path in self.culprits:
            raise ImageRejected(CRASH_REASON)
        name = relative_path.encode("utf-8", "surrogateescape")
        self.redis.set(self.current, name, ex=MARKER_TTL_S)

    def done(self) -> None:
        self.redis.delete(self.current, self.crashed)
