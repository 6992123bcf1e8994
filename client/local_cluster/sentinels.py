"""A highly available Redis on this machine: a master, replicas and three sentinels.

``submit.py cluster --replicas N`` runs this instead of the cache folder's
lone Redis. Every process comes from the same ``redis-server`` binary, with
a port and a folder of its own under ``<cache-dir>/ha/``, and the users of
``shared/redis_acl.py``. Clients reach the master through the sentinels
(``sentinel://`` URLs), so when the master dies the sentinels promote a
replica and every client follows it.

Failover timing: ``shared/sentinel_config.py`` (the same for compose). A
dead server is started again once the sentinels name another master (it
then joins as a replica); a dead sentinel at once.
"""

import fcntl
import json
import re
import threading
import time
from pathlib import Path

from catdog_queue.client.local_cluster.processes import ClusterError, log_tail, spawn
from catdog_queue.client.local_cluster.redis_server import (
    config_lines,
    server_version,
    write_private,
)
from catdog_queue.shared import redis_acl, sentinel, sentinel_config, settings
from catdog_queue.shared.waiting import wait_until

START_TIMEOUT_S = 60.0
SUPERVISE_INTERVAL_S = 0.5


class Node:
    """One redis-server process of the group: a data server or a sentinel."""

    def __init__(self, root: Path, name: str, port: int):
        self.name, self.port = name, port
        self.folder = root / name
        self.config = self.folder / f"{name}.conf"
        self.log = root.parent / "logs" / f"{name}.log"
        self.process = None
        self.died_at = None

    def start(self, sentinel_mode: bool) -> None:
        from catdog_queue.client.local_cluster.cluster import find_redis_server

        command = [find_redis_server(), str(self.config)]
        if sentinel_mode:
            command.append("--sentinel")
        self.process = spawn(command, self.log, {})
        self.died_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class SentinelGroup:
    """The same interface as ``LocalRedis`` (attach, url, client, detach), highly available."""

    def __init__(self, cache_dir: Path, replicas: int = 1):
        if replicas < 1:
            raise ValueError(
                f"a highly available Redis needs at least 1 replica, received {replicas}"
            )
        self.root = Path(cache_dir) / "ha"
        self.replicas = replicas
        self.passwords = {}
        self.db = 0
        self.servers, self.sentinels = [], []
        self._lock = None
        self._stop = threading.Event()
        self._supervisor = None

    @property
    def port(self) -> int:
        return self.sentinels[0].port

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def attach(self, db: int | None = None) -> None:
        if db not in (None, 0):
            raise ClusterError("a highly available local Redis serves a standing cluster only")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)  # the sentinels rewrite their files, passwords and all
        (self.root.parent / "logs").mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / "ha.lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ClusterError(f"another cluster runs on {self.root}; stop it first") from None
        self.passwords = redis_acl.new_passwords()
        self._start_servers()
        self._start_sentinels()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def url(self, role: str, db: int | None = None) -> str:
        """``sentinel://ROLE:PASSWORD@127.0.0.1:PORT/0;...``: every sentinel, one login."""
        login = f"{role}:{self.passwords[role]}"
        return ";".join(f"sentinel://{login}@127.0.0.1:{node.port}/0" for node in self.sentinels)

    def client(self, role: str = "admin", db: int = 0):
        from catdog_queue.shared.redis_client import connect

        return connect(self.url(role))

    def master_node(self) -> Node | None:
        """The server the sentinels name as master now, if they name one of ours."""
        try:
            _, port = sentinel.master_address(self.url("admin"))
        except Exception:
            return None
        return next((node for node in self.servers if node.port == port), None)

    def detach(self) -> None:
        master = self.master_node()
        if master is not None:  # the next start makes it the master: it has the newest data
            write_private(self.state_path, json.dumps({"master": master.name}))
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        for node in [*self.sentinels, *self.servers]:
            if node.alive():
                node.process.terminate()  # SIGTERM: servers flush their append-only files
        for node in [*self.sentinels, *self.servers]:
            if node.process is not None:
                node.process.wait(timeout=60)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _start_servers(self) -> None:
        from catdog_queue.client.local_cluster.cluster import find_redis_server, free_loopback_port

        version = server_version(find_redis_server())  # the ACL rules it accepts
        names = [f"redis-{number}" for number in range(self.replicas + 1)]
        newest = _read_json(self.state_path).get("master")
        if newest in names:  # the last master first: replicas copy its data
            names.remove(newest)
            names.insert(0, newest)
        self.servers = [Node(self.root, name, free_loopback_port()) for name in names]
        master = self.servers[0]
        for node in self.servers:
            node.folder.mkdir(exist_ok=True)
            lines = config_lines(node.folder, node.log, node.port, self.passwords, version)
            lines = _users_in_an_acl_file(lines, node.folder / "users.acl")
            lines += self._replication_lines()
            if node is not master:
                lines.append(f"replicaof 127.0.0.1 {master.port}")
            write_private(node.config, "\n".join(lines) + "\n")
            node.start(sentinel_mode=False)
        for node in self.servers:
            self._wait_for(node, lambda node=node: _answers(node.port, self.passwords["admin"]))

    def _replication_lines(self) -> list[str]:
        return [
            *sentinel_config.replication_lines(self.passwords["admin"]),
            *sentinel_config.write_guard_lines(self.replicas),
        ]

    def _start_sentinels(self) -> None:
        from catdog_queue.client.local_cluster.cluster import free_loopback_port

        self.sentinels = [
            Node(self.root, f"sentinel-{number}", free_loopback_port())
            for number in range(sentinel_config.SENTINELS)
        ]
        for node in self.sentinels:
            node.folder.mkdir(exist_ok=True)
            write_private(node.config, "\n".join(self._sentinel_lines(node)) + "\n")
            node.start(sentinel_mode=True)
        for node in self.sentinels:
            self._wait_for(node, lambda node=node: self._sentinel_knows_master(node))

    def _sentinel_lines(self, node: Node) -> list[str]:
        name, master = settings.sentinel_master_name(), self.servers[0]
        return [
            "bind 127.0.0.1",
            f"port {node.port}",
            f"dir {node.folder}",
            f"logfile {node.log}",
            "daemonize no",
            *sentinel_config.sentinel_lines(name, "127.0.0.1", master.port, self.passwords),
        ]

    def _sentinel_knows_master(self, node: Node) -> bool:
        import redis

        try:
            client = redis.Redis(
                port=node.port, username="admin", password=self.passwords["admin"],
                socket_connect_timeout=2, socket_timeout=2,
            )  # fmt: skip
            master = client.sentinel_master(settings.sentinel_master_name())
            return int(master.get("num-slaves", 0)) >= self.replicas
        except (redis.RedisError, OSError):
            return False

    def _wait_for(self, node: Node, condition) -> None:
        def still_running():
            if not node.alive():
                raise ClusterError(
                    f"the {node.name} process exited with code {node.process.returncode};"
                    f" last lines of {node.log}:\n  {log_tail(node.log)}"
                )

        if not wait_until(condition, START_TIMEOUT_S, 0.1, on_wait=still_running):
            raise ClusterError(
                f"{node.name} was not ready within {START_TIMEOUT_S:.0f}s; see {node.log}"
            )

    def _supervise(self) -> None:
        """Start exited processes again: sentinels at once, a server once it is replaced."""
        while not self._stop.wait(SUPERVISE_INTERVAL_S):
            for node in self.sentinels:
                if node.process.poll() is not None:
                    node.start(sentinel_mode=True)
            dead = [node for node in self.servers if node.process.poll() is not None]
            if not dead:
                continue
            master = self.master_node()
            for node in dead:
                node.died_at = node.died_at or time.monotonic()
                replaced = master is not None and master is not node
                if (
                    replaced
                    or time.monotonic() - node.died_at
                    > 2 * sentinel_config.FAILOVER_TIMEOUT_MS / 1000
                ):
                    node.start(sentinel_mode=False)


def _users_in_an_acl_file(lines: list[str], acl_file: Path) -> list[str]:
    """Move the ``user`` lines of a server's config into an ACL file that it names.

    On a failover the sentinels send ``CONFIG REWRITE`` to the servers they
    reconfigure. Redis 6.2 reads the old file back in 1024-byte pieces, so a
    longer line (a user with many key and channel rules: flower, worker) is
    cut in two and the rest left on a line of its own, which the server
    refuses at its next start ("Bad directive"): a master killed after a
    promotion never came back, and the next failover found no replica
    ("-failover-abort-no-good-slave"). ``CONFIG REWRITE`` leaves an ACL file
    alone, and Redis reads one whole.
    """
    users = [_unquoted(line) for line in lines if line.startswith("user ")]
    write_private(acl_file, "\n".join(users) + "\n")
    return [line for line in lines if not line.startswith("user ")] + [f"aclfile {acl_file}"]


def _unquoted(user_line: str) -> str:
    """The line as an ACL file wants it: Redis 6.2 splits an ACL file's lines at spaces,
    with no quotes or escapes, so a quoted rule (a key pattern with the bytes \\x06\\x16 of
    kombu's priority queues, shared/redis_acl.py) goes in bare, its bytes written as such;
    none of them is a space."""

    def bare(quoted: re.Match) -> str:
        return re.sub(r"\\x([0-9a-fA-F]{2})", lambda byte: chr(int(byte[1], 16)), quoted[1])

    return re.sub(r'"([^" ]*)"', bare, user_line)


def _answers(port: int, admin_password: str) -> bool:
    import redis

    try:
        client = redis.Redis(
            port=port, username="admin", password=admin_password, socket_connect_timeout=2
        )
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
