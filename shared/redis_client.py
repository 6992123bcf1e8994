"""Redis clients that ride out a restart of the server instead of failing at once.

A standing cluster's Redis may restart (an upgrade, ``docker compose restart``,
a crash): its append-only file brings the data back within seconds. Every
command is retried with a growing pause for about ``OUTAGE_TOLERANCE_S``, so
a checkpoint save or a shard write waits for Redis instead of failing the
job; past that, the error surfaces and the caller reports it.
"""

OUTAGE_TOLERANCE_S = 90.0


def connect(url: str, **options):
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # 0.25, 0.5, 1, 2, 4, then 5 s between tries: about 90 s in all.
    retry = Retry(ExponentialBackoff(cap=5.0, base=0.25), retries=22)
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=10,
        socket_timeout=60,
        health_check_interval=30,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        **options,
    )
