"""A bare redis-server on a loopback port, for tests of one module against real Redis."""

import subprocess
from contextlib import contextmanager

import redis

from catdog_queue.client.local_cluster import find_redis_server, free_loopback_port
from catdog_queue.shared.waiting import wait_until


def _answers(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@contextmanager
def plain_redis_server(folder):
    """A redis-server with no users and no persistence in ``folder``; yields its port."""
    port = free_loopback_port()
    server = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        assert wait_until(lambda: _answers(client), timeout_s=30), "redis-server did not start"
        client.close()
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
