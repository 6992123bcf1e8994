"""Reach the Redis behind a broker URL, or say clearly why not."""

import re


class BrokerUnreachable(RuntimeError):
    """The configured Redis did not answer; the message names it (without password)."""


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or log.

    Works on the text alone, so a malformed port or an IPv6 host survives as
    written instead of raising or losing its brackets. A ``password=`` query
    parameter (which redis-py accepts too) is hidden as well.
    """
    url = re.sub(r"([?&]password=)[^&#]*", r"\1***", url)
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

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise BrokerUnreachable(
            f"unsupported broker URL {redact(url)}: expected redis://[:password@]host:port/db"
            " or rediss:// for TLS"
        )
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
        )
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
