"""Reach the Redis behind a broker URL, or say clearly why not."""

import re
import sys
import time

from catdog_queue.shared import sentinel


class BrokerUnreachable(RuntimeError):
    """The configured Redis did not answer; the message names it (without password)."""


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or log.

    Works on the text alone, so a malformed port or an IPv6 host survives as
    written instead of raising or losing its brackets. A ``password=`` query
    parameter (which redis-py accepts too) is hidden as well.
    """
    url = re.sub(r"([?&]password=)[^&#]*", r"\1***", url)
    if ";" in url:  # a list of sentinels: each address may hold a login
        return ";".join(redact(part) for part in url.split(";"))
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{path}"


# Behind Sentinel a dead master is replaced within a failover's time (about
# 12 s with shared/sentinel_config.py's timings): a client that submits in
# between waits for the new one instead of failing.
FAILOVER_WAIT_S = 30.0


class _NoAnswer(Exception):
    """The server did not answer (refused, timed out, gone)."""


def check_reachable(
    url: str, timeout_seconds: float = 5.0, failover_wait_s: float = FAILOVER_WAIT_S
) -> None:
    """Return once the Redis behind ``url`` answers; raise BrokerUnreachable saying why not.

    Behind Sentinel, while the sentinels answer but the master they name does
    not (it died, and they have not promoted a replica yet), wait up to
    ``failover_wait_s`` for the failover.
    """
    if not url.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
        raise BrokerUnreachable(
            f"unsupported broker URL {redact(url)}: expected redis://[:password@]host:port/db,"
            " rediss:// for TLS, or sentinel://[user:password@]host:port/db;sentinel://host2:port"
        )
    deadline = time.monotonic() + failover_wait_s
    said = False
    while True:
        try:
            return _ping(url, timeout_seconds)
        except _NoAnswer as error:
            if not (
                sentinel.is_sentinel_url(url)
                and time.monotonic() < deadline
                and _sentinels_answer(url, timeout_seconds)
            ):
                raise BrokerUnreachable(
                    f"cannot reach the broker at {redact(url)}: {error}"
                ) from None
            if not said:
                print(
                    f"broker: the master does not answer ({error}); waiting for the sentinels"
                    f" to promote a replica (up to {failover_wait_s:.0f} s)",
                    file=sys.stderr,
                )
                said = True
            time.sleep(1.0)


def _ping(url: str, timeout_seconds: float) -> None:
    import redis

    try:
        client = _client(url, timeout_seconds)
    except ValueError as error:
        raise BrokerUnreachable(f"invalid broker URL {redact(url)}: {error}") from None
    try:
        client.ping()
    except redis.AuthenticationError:
        raise BrokerUnreachable(f"the broker at {redact(url)} refused the password") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
        raise _NoAnswer(str(error)) from None
    except redis.ResponseError as error:
        raise BrokerUnreachable(f"the broker at {redact(url)} answered: {error}") from None
    finally:
        client.close()


def _sentinels_answer(url: str, timeout_seconds: float) -> bool:
    """Whether any sentinel of ``url`` answers: a failover can come only if one does."""
    import redis

    login = sentinel.sentinel_login(
        url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
    )
    for host, port in sentinel.parse(url)["addresses"]:
        client = redis.Redis(host=host, port=port, **login)
        try:
            if client.ping():
                return True
        except redis.RedisError:
            continue
        finally:
            client.close()
    return False


def _client(url: str, timeout_seconds: float):
    """A client of the server (or, behind Sentinel, of the master) that tries once."""
    import redis

    timeouts = {"socket_connect_timeout": timeout_seconds, "socket_timeout": timeout_seconds}
    if sentinel.is_sentinel_url(url):
        return sentinel.master_client(url, **timeouts)
    return redis.Redis.from_url(url, **timeouts)
