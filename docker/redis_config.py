#!/usr/bin/env python3
"""Write the Redis server's config file, with the cluster's ACL users, from the environment.

Run by the ``redis-config`` service of docker-compose.yml (from the cpu-worker image, where
it is ``/usr/local/bin/catdog-redis-config`` and ``catdog_queue`` is importable) before Redis
starts, into a volume that only it and Redis mount:

    python /usr/local/bin/catdog-redis-config /etc/catdog/redis/redis.conf

With ``docker-compose.ha.yml`` (a master, a replica, three sentinels), ``--ha`` writes the
master's and the replica's files into one folder and each sentinel's into its own volume:

    python /usr/local/bin/catdog-redis-config --ha /etc/catdog/redis /sentinel-1 /sentinel-2 ...

A sentinel rewrites its file as the cluster changes (which server is master now), so an
existing sentinel file is kept: a restart must not send it back to the first master.

The users are those of ``shared/redis_acl.py``: ``admin`` may do everything; ``worker``,
``client`` and ``flower`` may not run the ``@admin`` and ``@dangerous`` commands (``CONFIG``,
``FLUSHALL``, ``SHUTDOWN``, ``KEYS``, ``DEBUG``, ``MODULE``, ...) and reach only the keys
and channels of their role, with Redis 7's key selectors (the redis service runs 7.4:
read-only keys for the client and Flower); ``default`` is off (with its permissions kept:
see ``DEFAULT_USER``). The passwords go into the file, so they are on
no command line (``docker inspect``, ``ps``).

Environment:
    CATDOG_REDIS_ADMIN_PASSWORD, CATDOG_REDIS_WORKER_PASSWORD, CATDOG_REDIS_CLIENT_PASSWORD,
    CATDOG_REDIS_FLOWER_PASSWORD
                     required; at least 16 letters, digits and ``-._~`` (they go into
                     redis:// URLs); ``docker/make_env.py`` generates them
    REDIS_MAXMEMORY  ``0`` (no limit, the default) or e.g. ``4gb``
"""

import os
import re
import sys
from pathlib import Path

from catdog_queue.shared import redis_acl, sentinel_config
from catdog_queue.shared.atomic_write import write_atomically

PASSWORD = re.compile(r"[A-Za-z0-9._~-]{16,}")
MEMORY = re.compile(r"[0-9]+([kmg]b?)?", re.IGNORECASE)


class ConfigError(ValueError):
    pass


def password_variable(role: str) -> str:
    """The environment variable of a Redis user's password (``shared.redis_acl`` reads the same)."""
    return f"CATDOG_REDIS_{role.upper()}_PASSWORD"


def passwords_from(environ) -> dict[str, str]:
    passwords = {}
    for role in redis_acl.ROLES:
        name = password_variable(role)
        password = environ.get(name, "")
        if not password:
            raise ConfigError(f"{name} is not set (docker/make_env.py generates it)")
        if not PASSWORD.fullmatch(password):
            raise ConfigError(
                f"{name} must be at least 16 characters, letters, digits and -._~ only"
                " (docker/make_env.py generates one): it goes into redis:// URLs"
            )
        passwords[role] = password
    return passwords


def acl_users(passwords: dict[str, str]) -> list[str]:
    """The ``user`` lines of ``shared/redis_acl.py`` (its docstring says why each), for Redis 7."""
    return redis_acl.acl_lines(passwords, redis_acl.SELECTORS_SINCE)


def render(environ, replica_of: str | None = None, announce: str | None = None) -> str:
    """A data server's file; with ``announce``, one of a Sentinel group (``replica_of`` its
    first master's host name, or None for the first master itself)."""
    passwords = passwords_from(environ)
    maxmemory = environ.get("REDIS_MAXMEMORY") or "0"
    if not MEMORY.fullmatch(maxmemory):
        raise ConfigError(f"REDIS_MAXMEMORY must be 0 or a size such as 4gb, not {maxmemory!r}")
    lines = [
        "# Written by catdog-redis-config (docker/redis_config.py) at start; do not edit.",
        "bind * -::*",
        "port 6379",
        # Every user needs a password (default is off), so protected mode would change
        # nothing; explicit, so that the official image's entrypoint adds no option of its own.
        "protected-mode no",
        # A full Redis refuses writes (the job fails) rather than dropping shards or tasks.
        "maxmemory-policy noeviction",
        f"maxmemory {maxmemory}",
        # Persistence, in the redis-data volume: the shard cache, queues and results survive
        # a restart. Every write goes to the append-only file (fsync each second), and a
        # snapshot is taken a minute after writes and when the server stops.
        "dir /data",
        "appendonly yes",
        "appendfsync everysec",
        "save 60 1",
        # The users (shared/redis_acl.py): admin may do everything; worker, client and
        # flower no @admin or @dangerous command and only their role's keys and channels;
        # default off (redis_acl.DEFAULT_USER).
        *acl_users(passwords),
    ]
    if announce:
        # Sentinels hand out this name, which every container resolves, not an address.
        lines += [f"replica-announce-ip {announce}"]
        lines += sentinel_config.replication_lines(passwords["admin"])
    if replica_of:
        lines.append(f"replicaof {replica_of} 6379")
    return "\n".join(lines) + "\n"


def render_sentinel(environ, master: str) -> str:
    """A sentinel of the compose group, on port 26379, watching ``master`` (a host name)."""
    passwords = passwords_from(environ)
    name = environ.get("CATDOG_SENTINEL_MASTER") or "catdog"
    lines = [
        "# Written by catdog-redis-config (docker/redis_config.py); the sentinel rewrites it.",
        "port 26379",
        "dir /data",
        # Containers change addresses when they restart: names, resolved on each use.
        "sentinel resolve-hostnames yes",
        "sentinel announce-hostnames yes",
        *sentinel_config.sentinel_lines(name, master, 6379, passwords),
    ]
    return "\n".join(lines) + "\n"


def write_ha(environ, config_dir: Path, sentinel_dirs: list[Path]) -> None:
    """The master's and the replica's files, and each sentinel's unless it has one."""
    write(config_dir / "redis.conf", render(environ, announce="redis"))
    write(
        config_dir / "replica.conf", render(environ, replica_of="redis", announce="redis-replica")
    )
    for folder in sentinel_dirs:
        if not (folder / "sentinel.conf").exists():
            write(folder / "sentinel.conf", render_sentinel(environ, "redis"), mode=0o600)


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` at once (a temporary file renamed over it)."""
    # Readable by the redis user of the redis image (another uid than this one's); only
    # this service and Redis mount the volume.
    write_atomically(path, text, mode, exact_mode=True)


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[1] == "--ha":
        try:
            write_ha(os.environ, Path(argv[2]), [Path(folder) for folder in argv[3:]])
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"wrote the master's, the replica's and {len(argv) - 3} sentinels' files")
        return 0
    if len(argv) != 2:
        print(
            f"usage: {argv[0]} PATH, or {argv[0]} --ha FOLDER SENTINEL_FOLDER...", file=sys.stderr
        )
        return 2
    try:
        text = render(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write(Path(argv[1]), text)
    users = ", ".join(redis_acl.ROLES)
    print(f"wrote {argv[1]} with the Redis users {users} (passwords not shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
