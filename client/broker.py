"""Reach the Redis behind a broker URL, or say clearly why not."""

import re

from shared import sentinel


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


def check_reachable(url: str, timeout_seconds: float = 5.0) -> None:
    import redis

    if not url.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
        raise BrokerUnreachable(
            f"unsupported broker URL {redact(url)}: expected redis://[:password@]host:port/db,"
            " rediss:// for TLS, or sentinel://[user:password@]host:port/db;sentinel://host2:port"
        )
    try:
        client = _client(url, timeout_seconds)
    except ValueError as error:
        raise BrokerUnreachable(f"invalid broker URL {redact(url)}: {error}") from None
    try:
        client.ping()
    except redis.AuthenticationError:
        raise BrokerUnreachable(f"the broker at {redact(url)} refused the password") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
        raise BrokerUnreachable(f"cannot reach the broker at {redact(url)}: {error}") from None
    except redis.ResponseError as error:
        raise BrokerUnreachable(f"the broker at {redact(url)} answered: {error}") from None
    finally:
        client.close()


def _client(url: str, timeout_seconds: float):
    """A client of the server (or, behind Sentinel, of the master) that tries once."""
    import redis

    timeouts = {"socket_connect_timeout": timeout_seconds, "socket_timeout": timeout_seconds}
    if sentinel.is_sentinel_url(url):
        return sentinel.master_client(url, **timeouts)
    return redis.Redis.from_url(url, **timeouts)
