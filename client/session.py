"""Connect the client to a cluster: the one named by ``--broker``, or a new local one."""

import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from client.broker import check_reachable, redact
from client.local_cluster import LocalCluster
from jobs import waiting
from shared import settings

DEFAULT_WAIT_TIMEOUT_S = 120.0


def new_job_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Session:
    app: object
    store: object
    watch: object  # watch(queue, pending): raises if a worker died or no worker consumes queue

    def forget_on_exit(self, stack, task_ids: list[str]) -> None:
        stack.callback(waiting.release_results, self.app, task_ids)

    def wait(self, task_id: str, what: str, queue: str, progress) -> dict:
        """Follow one long task with progress bars; its result, or JobFailed."""
        result = waiting.wait_for_task(
            self.app.AsyncResult(task_id),
            what,
            progress.phase,
            progress.task_progress,
            self.watch,
            queue,
        )
        progress.close()
        return result


def connect(args, job_id: str, log_dir: Path, stack, timings: dict, data_roots=()) -> Session:
    """Point this process at a cluster; a local one stops when ``stack`` closes.

    ``data_roots`` are the folders a local cluster's workers may read, or a
    function that finds them in the cluster's Redis (given a client of it).
    """
    broker = getattr(args, "broker", None) or settings.broker_url()
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
        for url in {broker, settings.result_backend_url(), settings.store_url()}:
            check_reachable(url)
        print(f"broker: {redact(broker)}", file=sys.stderr)
    else:
        cluster = _start_local_cluster(args, job_id, log_dir, stack, timings, data_roots)
    from shared.shards import connect_store
    from workers.app import app

    app.conf.update(broker_url=settings.broker_url(), result_backend=settings.result_backend_url())
    if broker:
        wait_timeout = getattr(args, "wait_timeout", None) or DEFAULT_WAIT_TIMEOUT_S
        watch = waiting.QueueWatch(app, wait_timeout, stream=sys.stderr)
    else:

        def watch(queue=None, pending=False):
            cluster.check_alive()

    return Session(app, connect_store(), watch)


def _start_local_cluster(args, job_id, log_dir, stack, timings, data_roots) -> LocalCluster:
    cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
    cluster = LocalCluster(cache_dir, log_dir, job_id)
    started = time.perf_counter()
    stack.callback(cluster.stop)
    cluster.start_redis()
    if callable(data_roots):  # known only from what the cluster's Redis holds (resume)
        data_roots = data_roots(cluster.redis())
    cluster.start_workers(data_roots)
    timings["cluster_start_s"] = time.perf_counter() - started
    os.environ.update(cluster.environment())
    print(
        f"local cluster: redis on 127.0.0.1:{cluster.port} (cache {cache_dir}),"
        f" cpu worker x{cluster.cpu_concurrency}, gpu worker; logs in {log_dir}",
        file=sys.stderr,
    )
    return cluster
