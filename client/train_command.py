"""``submit.py train``: list, decode on ``cpu`` workers, train on a ``gpu`` worker, collect."""

import os
import secrets
import sys
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from client import collect
from client.broker import check_reachable, redact
from client.local_cluster import LocalCluster
from client.progress import JobProgress
from jobs import train as train_job
from shared import settings
from shared.listing import list_labelled_images, plan_shards, require_trainable
from shared.models import DEFAULT_LEARNING_RATES


def new_job_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run_train(args) -> int:
    started = time.perf_counter()
    timings = {}
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    shards = plan_shards(listing, args.shard_size, args.image_size)
    timings["list_s"] = time.perf_counter() - started

    job_id = new_job_id()
    out_dir = Path(args.out or Path("runs") / job_id)
    options = _training_options(args, listing.labels)
    print(
        f"job {job_id}: {listing.total} files, {len(listing.files)} images of labels"
        f" {', '.join(listing.labels)} in {len(shards)} shards",
        file=sys.stderr,
    )
    with ExitStack() as stack:
        check_health = _connect(args, job_id, out_dir, stack, timings)
        from workers.app import app

        app.conf.update(
            broker_url=settings.broker_url(),
            result_backend=settings.result_backend_url(),
        )
        from shared.shards import connect_store

        store = connect_store()
        stack.callback(train_job.release_results, app, job_id, shards)
        progress = JobProgress()
        stack.callback(progress.close)
        data_root = args.worker_data_dir or str(listing.root)

        phase_started = time.perf_counter()
        result = train_job.submit(app, job_id, data_root, shards, options)
        summaries = train_job.wait_for_decode(app, job_id, shards, progress.decode, check_health)
        timings["decode_s"] = time.perf_counter() - phase_started
        outcome = train_job.wait_for_training(result, progress.phase, progress.epoch, check_health)
        progress.close()

        phase_started = time.perf_counter()
        collect.save_artifacts(store, outcome["artifacts"], out_dir)
        metrics = _metrics(job_id, options, listing, summaries, outcome["metrics"])
        collect.plot_history(
            metrics["history"],
            out_dir,
            f"{job_id}: {options['model']}, {options['optimizer']}",
        )
        timings["collect_s"] = time.perf_counter() - phase_started
        timings["total_s"] = time.perf_counter() - started
        metrics["timings"] = timings | outcome["metrics"]["timings"]
        collect.save_metrics(metrics, out_dir)
    _print_summary(metrics, out_dir)
    return 0


def _connect(args, job_id, out_dir, stack, timings):
    """Point this process at a cluster: the given broker, or a new local one."""
    broker = args.broker or settings.broker_url()
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
        for url in {broker, settings.result_backend_url(), settings.store_url()}:
            check_reachable(url)
        print(f"broker: {redact(broker)}", file=sys.stderr)
        return lambda: None
    cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
    cluster = LocalCluster(cache_dir, out_dir / "logs", job_id)
    started = time.perf_counter()
    stack.enter_context(cluster)
    timings["cluster_start_s"] = time.perf_counter() - started
    os.environ.update(cluster.environment())
    print(
        f"local cluster: redis on 127.0.0.1:{cluster.port} (cache {cache_dir}),"
        f" cpu worker x{cluster.cpu_concurrency}, gpu worker; logs in {out_dir / 'logs'}",
        file=sys.stderr,
    )
    return cluster.check_alive


def _training_options(args, labels: list[str]) -> dict:
    learning_rate = args.learning_rate
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[args.optimizer]
    return {
        "model": args.model,
        "optimizer": args.optimizer,
        "learning_rate": learning_rate,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "seed": args.seed,
        "test_size": args.test_size,
        "labels": labels,
    }


def _metrics(job_id, options, listing, summaries, worker_metrics) -> dict:
    decode_rejected = [item for summary in summaries for item in summary["rejected"]]
    metrics = {"job_id": job_id, "data_dir": str(listing.root)} | options
    metrics |= {
        "images_total": listing.total,
        "images_rejected": listing.rejected + decode_rejected,
        "shards": {
            "count": len(summaries),
            "bytes": sum(summary["bytes"] for summary in summaries),
            "reused": sum(1 for summary in summaries if summary["reused"]),
        },
    }
    metrics |= {name: value for name, value in worker_metrics.items() if name != "timings"}
    return metrics


def _print_summary(metrics: dict, out_dir: Path) -> None:
    print(
        f"job {metrics['job_id']}: held-out accuracy {metrics['test_accuracy']:.4f}"
        f" (loss {metrics['test_loss']:.4f}) on {metrics['test_images']} images,"
        f" train accuracy {metrics['train_accuracy']:.4f};"
        f" {metrics['images_used']} used, {len(metrics['images_rejected'])} rejected;"
        f" {metrics['epochs']} epochs in {metrics['timings']['train_s']:.1f}s"
        f" on {metrics['device']}; results in {out_dir}/"
    )
