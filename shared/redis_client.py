"""Redis clients that ride out a restart of the server, or its replacement, instead of failing.

A standing cluster's Redis may restart (an upgrade, ``docker compose restart``,
a crash): its append-only file brings the data back within seconds. Every
command is retried with a growing pause for about ``OUTAGE_TOLERANCE_S``, so
a checkpoint save or a shard write waits for Redis instead of failing the
job; past that, the error surfaces and the caller reports it.

Behind Redis Sentinel (``sentinel://`` URLs, ``shared.sentinel``) the same
retries ask the sentinels for the master's address again, so a failover looks
like a short restart; ``wait_for_replica`` marks the writes a failover must
not lose.
"""

from catdog_queue.shared import sentinel

OUTAGE_TOLERANCE_S = 90.0
# How long a write that must survive a failover waits for a replica's copy.
# Past it the write stands on the master alone (no replica is up): the job
# goes on, as it would without replication.
REPLICA_WAIT_MS = 1000
REPLICATION_MARK_KEY = "catdog:replication-mark"
SENTINEL_SOCKET_TIMEOUT_S = 10


def connect(url: str, **options):
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # 0.25, 0.5, 1, 2, 4, then 5 s between tries: about 90 s in all. Behind
    # Sentinel each try asks for the master again: a failover ends within
    # the tolerance (see client/local_cluster/sentinels.py for its timing).
    retry = Retry(ExponentialBackoff(cap=5.0, base=0.25), retries=22)
    settings = dict(
        socket_connect_timeout=10,
        socket_timeout=60,
        health_check_interval=30,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        **options,
    )
    if sentinel.is_sentinel_url(url):
        # A master that hangs (stopped, its machine unreachable) answers no
        # command: give up on it sooner, so that the retry asks the sentinels
        # for the master that replaced it. A 64 MiB chunk is written in well
        # under a second on any network the cluster should run on.
        settings["socket_timeout"] = SENTINEL_SOCKET_TIMEOUT_S
        return sentinel.master_client(url, **settings)
    return redis.Redis.from_url(url, **settings)


def wait_for_replica(client, timeout_ms: int = REPLICA_WAIT_MS) -> int | None:
    """Block until a replica holds every write made so far; the number of replicas that do.

    Replication is asynchronous: a master that dies takes its last writes
    along unless a replica has them. ``WAIT`` covers the writes of its own
    connection only, so a small mark is written on the same connection first:
    the replication stream is ordered, so a replica that has the mark has
    every earlier write of every connection. None without Sentinel (a lone
    server has no replica to wait for).
    """
    if not sentinel.is_sentinel_client(client):
        return None
    pipeline = client.pipeline(transaction=False)
    pipeline.incr(REPLICATION_MARK_KEY)
    pipeline.execute_command("WAIT", 1, timeout_ms)
    replicas = int(pipeline.execute()[-1])
    if replicas == 0:
        sentinel.look_for_a_new_master(client)
    return replicas
