"""The cluster a notebook's jobs run on: an embedded one (``start``) or a standing one
(``connect``).

Both go through ``client.session.connect``, as the command line does. One
cluster is open at a time in a process: Celery's app (``workers.app``) and
the cluster's addresses in ``os.environ`` are the process's own.
"""

import os
import threading
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

from catdog_queue.shared import settings

# What ``client.session.connect`` writes into the environment; put back on close.
CLUSTER_VARIABLES = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CATDOG_STORE_URL")

_open_cluster = None


class Cluster:
    """A connected client, and the embedded Redis and workers if it started them.

    Use it as a context manager, or call ``close()``; jobs started on it keep
    running on a standing cluster, and stop with an embedded one.
    """

    def __init__(self, broker_url=None, cache_dir=None, data_roots=None, wait_timeout=None):
        from catdog_queue.client.session import connect, new_job_id

        global _open_cluster
        if _open_cluster is not None:
            raise ValueError(
                f"a cluster is already open in this process ({_open_cluster!r}); close it"
                " first (cluster.close(), or leave its with block)"
            )
        self._saved_environment = {name: os.environ.get(name) for name in CLUSTER_VARIABLES}
        if broker_url is None:  # embedded: whatever CELERY_BROKER_URL says is not this cluster
            for name in CLUSTER_VARIABLES:
                os.environ.pop(name, None)
        self._stack = ExitStack()
        arguments = SimpleNamespace(
            broker=broker_url, cache_dir=cache_dir, wait_timeout=wait_timeout
        )
        try:
            self.session = connect(arguments, f"api-{new_job_id()}", None, self._stack)
            roots = [str(Path(root).resolve()) for root in (data_roots or [Path.cwd()])]
            # Workers read only these folders; a job elsewhere has its files uploaded.
            self.session.start_workers(roots)
        except BaseException:
            self._close_stack()
            raise
        self.broker_url = broker_url
        _open_cluster = self

    @classmethod
    def attached(cls, session, broker_url=None) -> "Cluster":
        """A cluster around a session connected elsewhere: ``submit.py``'s, which connects
        only once its job is planned, with the job's id and log folder.

        It is not this process's open cluster (``start``/``connect``), and closing it
        does nothing: whoever connected the session stops it.
        """
        cluster = cls.__new__(cls)
        cluster.session, cluster.broker_url = session, broker_url
        cluster._stack, cluster._saved_environment = ExitStack(), {}
        return cluster

    @property
    def embedded(self) -> bool:
        return self.session.cluster is not None

    def __repr__(self) -> str:
        if self.embedded:
            return f"<embedded cluster, redis on 127.0.0.1:{self.session.cluster.port}>"
        from catdog_queue.client.broker import redact

        return f"<cluster at {redact(self.broker_url)}>"

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the cluster: an embedded one stops, its Redis keeps the shard cache."""
        global _open_cluster
        if _open_cluster is self:
            _open_cluster = None
            self._close_stack()

    def _close_stack(self) -> None:
        try:
            self._stack.close()
            if hasattr(self, "session"):
                forget_connections(self.session.app)
        finally:
            for name, value in self._saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def forget_connections(app) -> None:
    """Drop the broker pool and result backend Celery keeps for the process's life, so that a
    cluster opened next in this kernel reaches its own Redis, not this one's (Celery 5)."""
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    app._local = threading.local()


def start(cache_dir=None, data_roots=None) -> Cluster:
    """Start an embedded cluster (Redis, a cpu and a gpu worker) in this process's care.

    ``cache_dir`` keeps the shard cache between sessions (default: the user's
    cache folder); workers read images under ``data_roots`` (default: the
    current folder), and files elsewhere reach them through Redis.
    """
    return Cluster(None, cache_dir or settings.default_cache_dir(), data_roots)


def connect(broker_url: str, wait_timeout: float | None = None) -> Cluster:
    """Use a standing cluster (``python submit.py cluster`` prints its URL)."""
    if not isinstance(broker_url, str) or not broker_url.startswith(("redis://", "rediss://")):
        raise ValueError(
            f"connect() needs a broker URL such as redis://:password@host:6379/1,"
            f" received {broker_url!r}; for a cluster in this process use start()"
        )
    return Cluster(broker_url, wait_timeout=wait_timeout)


def current_cluster(given=None) -> Cluster:
    """``given``, or the cluster opened last; a ValueError says how to open one."""
    cluster = given if given is not None else _open_cluster
    if cluster is None or cluster is not _open_cluster:
        raise ValueError(
            "no open cluster: start one with `with catdog_queue.start():` or connect to one"
            " with `catdog_queue.connect('redis://...')`"
            + ("" if given is None else f" (received {given!r}, which is closed)")
        )
    return cluster
