"""Reach the master of a Redis Sentinel group from one ``sentinel://`` URL.

``sentinel://USER:PASSWORD@HOST:PORT/DB;sentinel://HOST2:PORT2;...`` names the
sentinels (Celery's and kombu's own form); the master's name is
``CATDOG_SENTINEL_MASTER`` (``catdog`` by default). The URL's user and
password log in to the master and to the sentinels alike: the cluster gives
its sentinels the same users as its servers, so one setting serves workers,
clients and Flower, and no password goes on a command line.
"""

from urllib.parse import unquote, urlsplit

from catdog_queue.shared import settings

SCHEME = "sentinel://"
SEPARATOR = ";"
DEFAULT_PORT = 26379


class SentinelUrlError(ValueError):
    """A ``sentinel://`` URL that names no sentinel or an unreadable one."""


def is_sentinel_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEME)


def parse(url: str) -> dict:
    """The sentinels' addresses, the login and the database of a ``sentinel://`` URL."""
    addresses, username, password, db = [], None, None, 0
    for number, chunk in enumerate(part for part in url.split(SEPARATOR) if part.strip()):
        if not chunk.startswith(SCHEME):
            raise SentinelUrlError(
                f"every address of a sentinel URL starts with {SCHEME}, received {chunk!r}"
                " (form: sentinel://user:password@host:26379/0;sentinel://host2:26379)"
            )
        parts = urlsplit(chunk)
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise SentinelUrlError(f"sentinel address {number + 1} has a bad port") from None
        if not parts.hostname:
            raise SentinelUrlError(f"sentinel address {number + 1} names no host")
        addresses.append((parts.hostname, port))
        if number == 0:
            username = unquote(parts.username) if parts.username else None
            password = unquote(parts.password) if parts.password else None
            db = _database(parts.path)
    if not addresses:
        raise SentinelUrlError("the sentinel URL names no sentinel")
    return {"addresses": addresses, "username": username, "password": password, "db": db}


def _database(path: str) -> int:
    text = path.strip("/") or "0"
    if not text.isdigit():
        raise SentinelUrlError(f"the database of a sentinel URL is a number, received {text!r}")
    return int(text)


def sentinel_login(url: str, **socket_options) -> dict:
    """What redis-py's ``Sentinel(sentinel_kwargs=...)`` needs to log in to the sentinels."""
    parsed = parse(url)
    login = {key: parsed[key] for key in ("username", "password") if parsed[key]}
    return login | {
        key: value for key, value in socket_options.items() if key.startswith("socket_")
    }


def transport_options(url: str) -> dict:
    """Celery's ``broker_transport_options`` / ``result_backend_transport_options`` extras."""
    follow_the_master_on_reconnection()
    return {
        "master_name": settings.sentinel_master_name(),
        "sentinel_kwargs": sentinel_login(url, socket_connect_timeout=5, socket_timeout=5),
    }


def master_client(url: str, **options):
    """A ``redis.Redis`` on the current master: each reconnection asks the sentinels again."""
    from redis.sentinel import Sentinel

    parsed = parse(url)
    login = {key: parsed[key] for key in ("username", "password") if parsed[key]}
    group = Sentinel(
        parsed["addresses"],
        sentinel_kwargs=sentinel_login(url, socket_connect_timeout=5, socket_timeout=5),
        **{key: value for key, value in options.items() if key.startswith("socket_")},
    )
    follow_the_master_on_reconnection()
    return group.master_for(settings.sentinel_master_name(), db=parsed["db"], **login, **options)


def follow_the_master_on_reconnection() -> None:
    """Make redis-py's Sentinel connections ask for the master on every reconnection.

    redis-py 8.1 asks the sentinels only when the pool opens a connection; a
    command retried after an error reconnects the same connection object to
    the address it had (``send_packed_command`` calls ``connect_check_health``,
    not ``connect``), so every retry met the deposed master again (READONLY,
    or a refused connection) until the retries ran out. Patched here, once,
    on the class that kombu's transport, Celery's result backend and the store
    all use; a connection without a socket looks the master up first.
    """
    from redis.sentinel import SentinelManagedConnection

    if getattr(SentinelManagedConnection, "_catdog_follows_the_master", False):
        return
    connect_check_health = SentinelManagedConnection.connect_check_health

    def following(self, check_health=True, retry_socket_connect=True):
        if self._sock is None and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        return connect_check_health(self, check_health, retry_socket_connect)

    SentinelManagedConnection.connect_check_health = following
    SentinelManagedConnection._catdog_follows_the_master = True


def master_address(url: str, timeout_s: float = 5.0) -> tuple[str, int]:
    """The address the sentinels give for the master now (raises MasterNotFoundError)."""
    from redis.sentinel import Sentinel

    parsed = parse(url)
    login = sentinel_login(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    group = Sentinel(parsed["addresses"], sentinel_kwargs=login)
    try:
        host, port = group.discover_master(settings.sentinel_master_name())
    finally:
        group.close()
    return host, int(port)


def is_sentinel_client(client) -> bool:
    from redis.sentinel import SentinelConnectionPool

    return isinstance(getattr(client, "connection_pool", None), SentinelConnectionPool)


def look_for_a_new_master(client) -> bool:
    """Ask the sentinels where the master is now; True if it moved.

    Connections stay on the server they opened to until an error. A master
    that was cut off and came back still takes writes for the seconds before
    the sentinels turn it into a replica, and loses them then; a replica's
    copy that never comes (``WAIT`` answered 0) is the sign to look again.
    Connections to the old master are then closed as they come back to the
    pool.
    """
    pool = client.connection_pool
    before = pool.master_address
    try:
        return pool.get_master_address() != before
    except Exception:  # no sentinel answers: the next reconnection asks again
        return False
