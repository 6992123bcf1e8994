"""Connect the client to a cluster: the one named by ``--broker``, or a new local one."""

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from catdog_queue.celeryconfig import connection_settings
from catdog_queue.client.broker import check_reachable, redact
from catdog_queue.client.follow import release_results
from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.client.queue_watch import DEFAULT_WAIT_TIMEOUT_S, QueueWatch
from catdog_queue.shared import settings


def new_job_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Session:
    """A client of one cluster: its Celery app, its shard store, and how to watch it."""

    app: object
    store: object
    watch: QueueWatch  # watch(queue, pending ids): raises if no worker can make progress
    cluster: LocalCluster | None = None  # the embedded cluster, if this client started one
    timings: dict = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.cluster is not None

    def start_workers(self, data_roots: list[str]) -> None:
        """A local cluster's workers, reading only ``data_roots``; a no-op on a remote one."""
        if self.cluster is None:
            return
        started = time.perf_counter()
        self.cluster.start_workers(data_roots)
        self.timings["cluster_start_s"] += time.perf_counter() - started
        print(
            f"local cluster: redis on 127.0.0.1:{self.cluster.port}"
            f" (cache {self.cluster.cache_dir}), cpu worker x{self.cluster.cpu_concurrency},"
            f" gpu worker; logs in {self.cluster.log_dir}",
            file=sys.stderr,
        )

    def describe_queue(self, queue: str, pending=()) -> str:
        """Who is busy on ``queue`` and how much waits there, for ``status``."""
        return self.watch.describe(queue, pending)

    def forget_on_exit(self, stack, task_ids: list[str]) -> None:
        stack.callback(release_results, self.app, task_ids)


def broker_given(args) -> str | None:
    return getattr(args, "broker", None) or settings.broker_url()


def connect(args, name: str, log_dir: Path | None, stack) -> Session:
    """Point this process at a cluster; a local one (Redis only, so far) stops with ``stack``.

    Call ``session.start_workers(roots)`` next: a local cluster's workers need
    to know which folders they may read, which ``resume`` learns from Redis.
    """
    broker = broker_given(args)
    cluster = None
    timings = {}
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
        for url in {broker, settings.result_backend_url(), settings.store_url()}:
            check_reachable(url)
        print(f"broker: {redact(broker)}", file=sys.stderr)
    else:
        started = time.perf_counter()
        cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
        cluster = LocalCluster(cache_dir, log_dir or cache_dir / "logs" / name, name)
        stack.callback(cluster.stop)
        cluster.start_redis()
        os.environ.update(cluster.environment())
        timings["cluster_start_s"] = time.perf_counter() - started
    from catdog_queue.shared.shards import connect_store
    from catdog_queue.workers.app import app

    app.conf.update(
        **connection_settings(settings.broker_url(), settings.result_backend_url()),
        # The client bounds its own wait for a Redis that went away (client.follow).
        result_backend_max_retries=2,
    )
    broker_connection = app.connection_for_read()
    stack.callback(broker_connection.release)
    broker_client = broker_connection.default_channel.client
    if cluster is None:
        # Commands without --wait-timeout (status, fetch, ...) wait the default; the parser
        # refuses 0 and negatives, so a given value is never swapped for the default.
        wait_timeout = getattr(args, "wait_timeout", None)
        if wait_timeout is None:
            wait_timeout = DEFAULT_WAIT_TIMEOUT_S
        watch = QueueWatch(broker_client, wait_timeout, note=_note)
    else:  # our own workers: no time-out, but stop at once if one of them died
        watch = QueueWatch(broker_client, None, note=_note, also=cluster.check_alive)
    return Session(app, connect_store(), watch, cluster, timings)


def _note(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
