#!/usr/bin/env python3
"""Write the Redis server's config file from the environment.

Run by the ``redis-config`` service of docker-compose.yml (from the cpu-worker image, where
it is ``/usr/local/bin/catdog-redis-config``) before Redis starts, into a volume that only
it and Redis mount:

    python /usr/local/bin/catdog-redis-config /etc/catdog/redis/redis.conf

The password goes into the file, so it is on no command line (``docker inspect``, ``ps``).

Environment:
    REDIS_PASSWORD   required; letters, digits and ``-._~`` only (it goes into redis:// URLs)
    REDIS_MAXMEMORY  ``0`` (no limit, the default) or e.g. ``4gb``

The hook for per-service users: ``acl_lines`` below. It returns nothing for now (one
password for everyone, ``requirepass``); once ``shared/redis_acl.py`` exists it returns its
ACL ``user`` lines here, and the dangerous commands can move from ``rename-command`` to the
users' ACL rules.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

PASSWORD = re.compile(r"[A-Za-z0-9._~-]{16,}")
MEMORY = re.compile(r"[0-9]+([kmg]b?)?", re.IGNORECASE)

# Commands that no part of the project sends, and that would let anyone with the password
# read every key name (KEYS, MONITOR), wipe the shard cache and the queues (FLUSHALL,
# FLUSHDB), load server-side code (FUNCTION; SCRIPT stays: Celery loads Lua scripts), stop or
# reconfigure
# the server (CONFIG, SHUTDOWN, DEBUG, MODULE, ACL, REPLICAOF/SLAVEOF, FAILOVER), copy the
# data out (SYNC, PSYNC, MIGRATE) or write files on demand (SAVE, BGSAVE, BGREWRITEAOF).
# Renamed to "", they do not exist for clients. The server itself still saves: on its
# schedule and when Docker stops it (SIGTERM).
DISABLED_COMMANDS = (
    "ACL",
    "BGREWRITEAOF",
    "BGSAVE",
    "CONFIG",
    "DEBUG",
    "FAILOVER",
    "FLUSHALL",
    "FLUSHDB",
    "FUNCTION",
    "KEYS",
    "MIGRATE",
    "MODULE",
    "MONITOR",
    "PSYNC",
    "REPLICAOF",
    "SAVE",
    "SHUTDOWN",
    "SLAVEOF",
    "SYNC",
)


class ConfigError(ValueError):
    pass


def acl_lines(environ) -> list[str]:
    """ACL ``user`` lines: the hook for separate users per service (none yet)."""
    return []


def render(environ) -> str:
    password = environ.get("REDIS_PASSWORD", "")
    if not password:
        raise ConfigError("REDIS_PASSWORD is not set")
    if not PASSWORD.fullmatch(password):
        raise ConfigError(
            "REDIS_PASSWORD must be at least 16 characters, letters, digits and -._~ only"
            " (e.g. openssl rand -hex 24): it goes into redis:// URLs"
        )
    maxmemory = environ.get("REDIS_MAXMEMORY") or "0"
    if not MEMORY.fullmatch(maxmemory):
        raise ConfigError(f"REDIS_MAXMEMORY must be 0 or a size such as 4gb, not {maxmemory!r}")
    lines = [
        "# Written by catdog-redis-config (docker/redis_config.py) at start; do not edit.",
        "bind * -::*",
        "port 6379",
        # The password is set, so protected mode would change nothing; explicit, so that the
        # official image's entrypoint adds no --protected-mode option of its own.
        "protected-mode no",
        f"requirepass {password}",
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
        "",
    ]
    lines += [f'rename-command {command} ""' for command in DISABLED_COMMANDS]
    lines += acl_lines(environ)
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".redis.conf.")
    try:
        with os.fdopen(descriptor, "w") as config:
            config.write(text)
        # Readable by the redis user of the redis image (another uid than this one's); only
        # this service and Redis mount the volume.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} PATH", file=sys.stderr)
        return 2
    try:
        text = render(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write(Path(argv[1]), text)
    print(f"wrote {argv[1]} (password not shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
