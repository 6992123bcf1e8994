"""Reach the Redis behind a broker URL, or say clearly why not."""

from urllib.parse import urlsplit, urlunsplit


class BrokerUnreachable(RuntimeError):
    """The configured Redis did not answer; the message names it (without password)."""


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def check_reachable(url: str, timeout_seconds: float = 5.0) -> None:
    import redis

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise BrokerUnreachable(
            f"unsupported broker URL {redact(url)}: expected redis://[:password@]host:port/db"
            " or rediss:// for TLS"
        )
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
    )
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
