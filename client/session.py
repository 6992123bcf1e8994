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
from jobs.waiting import release_results
from shared import settings


def new_job_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Session:
    app: object
    store: object
    check_health: object  # raises if the local cluster lost a process

    def forget_on_exit(self, stack, task_ids: list[str]) -> None:
        stack.callback(release_results, self.app, task_ids)


def connect(args, job_id: str, log_dir: Path, stack, timings: dict) -> Session:
    """Point this process at a cluster; a local one stops when ``stack`` closes."""
    broker = getattr(args, "broker", None) or settings.broker_url()
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
        for url in {broker, settings.result_backend_url(), settings.store_url()}:
            check_reachable(url)
        print(f"broker: {redact(broker)}", file=sys.stderr)
        check_health = _nothing_to_check
    else:
        check_health = _start_local_cluster(args, job_id, log_dir, stack, timings)
    from shared.shards import connect_store
    from workers.app import app

    app.conf.update(broker_url=settings.broker_url(), result_backend=settings.result_backend_url())
    return Session(app, connect_store(), check_health)


def _start_local_cluster(args, job_id, log_dir, stack, timings):
    cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
    cluster = LocalCluster(cache_dir, log_dir, job_id)
    started = time.perf_counter()
    stack.enter_context(cluster)
    timings["cluster_start_s"] = time.perf_counter() - started
    os.environ.update(cluster.environment())
    print(
        f"local cluster: redis on 127.0.0.1:{cluster.port} (cache {cache_dir}),"
        f" cpu worker x{cluster.cpu_concurrency}, gpu worker; logs in {log_dir}",
        file=sys.stderr,
    )
    return cluster.check_alive


def _nothing_to_check() -> None:
    return None
