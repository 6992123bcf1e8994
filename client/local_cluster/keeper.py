"""Keep a cache folder's Redis running while some local run uses it, then stop it cleanly.

``python -m client.local_cluster.keeper CACHE_DIR``, started by the first run
(``redis_server.LocalRedis``), in a session of its own. It starts
``redis-server`` as its child (which gets SIGTERM if the keeper dies), starts
it again if it exits while runs still use it (a crash, or a restart), and
once no run holds the folder's shared lock it shuts Redis down, which flushes
the append-only file, and exits.
"""

import fcntl
import signal
import sys
import time
from pathlib import Path

from catdog_queue.client.local_cluster.processes import spawn
from catdog_queue.client.local_cluster.redis_server import CacheFolder
from catdog_queue.shared.waiting import wait_until

POLL_INTERVAL_S = 0.25
MAX_RESTARTS_PER_MINUTE = 5


def main(cache_dir: str) -> int:
    folder = CacheFolder(Path(cache_dir))
    state = folder.read_state()
    client = _admin_client(state)
    redis_process = _start_redis(folder, client)
    _forget_stale_locks(client)
    folder.write_state(state | {"ready": True, "redis_pid": redis_process.pid})
    _log(f"redis ready on port {state['port']}")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    restarts = []
    with open(folder.users_lock, "a+") as users:
        while True:
            if stopping or _nobody_uses(users):
                return _shut_down(folder, client, redis_process)
            if redis_process.poll() is not None:
                restarts = [moment for moment in restarts if time.monotonic() - moment < 60]
                if len(restarts) >= MAX_RESTARTS_PER_MINUTE:
                    _log("redis keeps exiting; giving up (see the Redis log)")
                    folder.state.unlink(missing_ok=True)
                    return 1
                restarts.append(time.monotonic())
                _log(f"redis exited with code {redis_process.returncode}; starting it again")
                redis_process = _start_redis(folder, client)
                folder.write_state(state | {"ready": True, "redis_pid": redis_process.pid})
            time.sleep(POLL_INTERVAL_S)


def _nobody_uses(users) -> bool:
    """True, holding the lock exclusively, when no run holds it shared."""
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _shut_down(folder: CacheFolder, client, redis_process) -> int:
    # No run may attach while Redis goes down: it would find a dying server.
    with open(folder.start_lock, "a+") as start:
        fcntl.flock(start, fcntl.LOCK_EX)
        try:
            client.shutdown()  # flushes the append-only file
        except Exception:
            pass  # the connection drops as Redis exits
        try:
            redis_process.wait(timeout=60)
        except Exception:
            redis_process.kill()
        folder.state.unlink(missing_ok=True)
    _log("no run uses this cache folder any more: redis stopped")
    return 0


def _start_redis(folder: CacheFolder, client):
    from catdog_queue.client.local_cluster.cluster import find_redis_server

    process = spawn([find_redis_server(), str(folder.config)], folder.log, {})

    def answers() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}") from None
            return False

    # Loading a large append-only file takes a while.
    if not wait_until(answers, timeout_s=300):
        raise RuntimeError("redis-server did not answer within 300 s")
    return process


def _forget_stale_locks(client) -> None:
    """No run used this folder before this keeper: training locks have no runner left."""
    for key in client.scan_iter(match="catdog:job:*:lock", count=1000):
        client.delete(key)


def _admin_client(state: dict):
    import redis

    from catdog_queue.shared import redis_acl

    url = redis_acl.redis_url("admin", state["passwords"]["admin"], "127.0.0.1", state["port"])
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=30)


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} keeper: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
