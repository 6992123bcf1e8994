"""One decode phase on a fresh embedded cluster, in its own process.

``python -m bench.cluster_child --data DIR --concurrency N [--memory]`` starts
a ``client.local_cluster.LocalCluster`` (Redis and one prefork cpu worker of
N processes, no gpu worker) on a new, empty cache folder, waits until the
worker is in the workers' registry, then sends one ``catdog.decode_shard`` task per shard
as the client does (``jobs.canvas.decode_signatures``) and waits for them
(``client.follow.wait_for_decode``, which polls every 0.25 s). It prints one
JSON line: the seconds from sending to the last shard done, and counts.

With ``--memory`` it then measures what the shards take in Redis (``MEMORY
USAGE`` of each shard key) and runs ``python -m bench.assemble_child`` against
the same Redis: the gpu worker's fetch-and-assemble code, in a process whose
peak resident memory is read before and after.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import redis

from bench import cpuload
from bench.procs import REPOSITORY_ROOT, run_json, scratch_dir
from catdog_queue.client.local_cluster import LocalCluster
from catdog_queue.shared import registry
from catdog_queue.shared.listing import list_labelled_images, plan_shards
from catdog_queue.shared.waiting import wait_until

READY_TIMEOUT_S = 120


def wait_until_ready(cluster, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Seconds until a cpu worker is in the workers' registry: it writes its entry once
    ready (``worker_ready``), its pool processes forked. Not a ping: the client's Redis
    user may not read the pidbox replies (``shared/redis_acl.py``), as ``submit.py`` needs
    none."""
    broker = redis.Redis.from_url(cluster.url())
    started = time.perf_counter()
    if not wait_until(
        lambda: registry.consumers(registry.live_workers(broker), "cpu"),
        timeout_s,
        interval_s=0.1,
        on_wait=cluster.check_alive,
    ):
        raise RuntimeError(f"no cpu worker was ready within {timeout_s}s")
    return time.perf_counter() - started


def decode_phase(data: str, concurrency: int, shard_size: int, image_size: int, memory: bool):
    cache_dir = scratch_dir(f"cluster-c{concurrency}")
    try:
        cluster = LocalCluster(
            cache_dir,
            cache_dir / "logs",
            f"bench-{os.getpid()}",
            cpu_concurrency=concurrency,
            data_roots=[data],
            gpu_workers=0,
        )
        with cluster:
            os.environ.update(cluster.environment())
            from celery import group

            from catdog_queue.client import follow
            from catdog_queue.jobs.canvas import decode_signatures, decode_task_id
            from catdog_queue.workers.app import app

            app.conf.update(broker_url=cluster.url(), result_backend=cluster.url())
            ready_s = wait_until_ready(cluster)
            listing = list_labelled_images(data)
            shards = plan_shards(listing, shard_size, image_size)
            job_id = f"bench-{os.getpid()}-{concurrency}"
            store = cluster.redis()
            used_before = store.info("memory")["used_memory"]
            window = cpuload.Window(lambda: cpuload.tree_cpu_s([os.getpid()])).start()
            started = time.perf_counter()
            group(decode_signatures(app, job_id, str(listing.root), shards)).apply_async()
            summaries = follow.wait_for_decode(
                app, job_id, shards, lambda done, total: None, _alive(cluster)
            )
            decode_seconds = time.perf_counter() - started
            others = window.stop()
            result = {
                "others_cores": others,
                "concurrency": concurrency,
                "ready_s": ready_s,
                "decode_s": decode_seconds,
                "shards": len(shards),
                "images": sum(summary["used"] for summary in summaries),
                "rejected": sum(len(summary["rejected"]) for summary in summaries),
                "reused": sum(1 for summary in summaries if summary["reused"]),
            }
            if memory:
                keys = [shard["key"] for shard in shards]
                result["redis_memory_usage"] = sum(store.memory_usage(k, samples=0) for k in keys)
                result["redis_strlen"] = sum(store.strlen(key) for key in keys)
                result["redis_used_memory_growth"] = (
                    store.info("memory")["used_memory"] - used_before
                )
                result["allocator"] = store.info("memory").get("mem_allocator")
                result["image_size"] = image_size
                result["assemble"] = _assemble_elsewhere(cluster, str(listing.root), shards)
            follow.release_results(
                app, [decode_task_id(job_id, shard["index"]) for shard in shards]
            )
        return result
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _alive(cluster):
    def check(queue=None, pending=False):
        cluster.check_alive()

    return check


def _assemble_elsewhere(cluster, data_root: str, shards: list[dict]) -> dict:
    plan = Path(cluster.cache_dir) / "assemble-plan.json"
    plan.write_text(json.dumps({"data_root": data_root, "shards": shards}))
    environment = os.environ | cluster.environment()
    environment["PYTHONPATH"] = str(REPOSITORY_ROOT)
    result = run_json(["-m", "bench.assemble_child", str(plan)], environment)
    result.pop("_finished", None)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_child")
    parser.add_argument("--data", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args(argv)
    result = decode_phase(
        str(Path(args.data).resolve()),
        args.concurrency,
        args.shard_size,
        args.image_size,
        args.memory,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
