"""``submit.py compare``: the tutorial's optimizer comparison as one job."""

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from client import collect, plots
from client.job_record import listing_summary
from client.options import UsageError, image_size, training_options
from client.progress import JobProgress
from client.session import connect, new_job_id
from client.train_command import collect_training
from jobs import compare as compare_job
from jobs import waiting
from shared.listing import list_labelled_images, plan_shards, require_trainable
from shared.shard_builder import mark_cached


def plan_runs(args, labels: list[str]) -> list[dict]:
    """One run per optimizer, or per optimizer and learning rate with a grid."""
    optimizers = list(dict.fromkeys(args.optimizers))
    rates = list(dict.fromkeys(args.learning_rates or [None]))
    if any(rate is not None and rate <= 0 for rate in rates):
        raise UsageError(f"learning rates must be positive, received {args.learning_rates}")
    runs = []
    for optimizer in optimizers:
        for rate in rates:
            options = training_options(args, labels, optimizer, rate)
            name = compare_job.run_name(optimizer, options["learning_rate"], len(rates) > 1)
            runs.append({"name": name, "options": options})
    return runs


def run_compare(args) -> int:
    started = time.perf_counter()
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    shards = plan_shards(listing, args.shard_size, image_size(args))
    runs = plan_runs(args, listing.labels)
    job_id = new_job_id()
    out_dir = Path(args.out or Path("runs") / job_id)
    print(
        f"job {job_id}: {len(listing.files)} images in {len(shards)} shards,"
        f" {len(runs)} runs: {', '.join(run['name'] for run in runs)}",
        file=sys.stderr,
    )
    with ExitStack() as stack:
        session = connect(args, job_id, out_dir / "logs", stack, {}, [listing.root])
        task_ids = [waiting.decode_task_id(job_id, shard["index"]) for shard in shards]
        task_ids += [compare_job.run_task_id(job_id, run["name"]) for run in runs]
        session.forget_on_exit(stack, task_ids)
        progress = JobProgress()
        stack.callback(progress.close)
        root = args.worker_data_dir or str(listing.root)
        mark_cached(session.store, shards)
        compare_job.build_canvas(session.app, job_id, root, shards, runs).apply_async()
        summaries = waiting.wait_for_decode(
            session.app, job_id, shards, progress.decode, session.watch
        )
        results = {
            run["name"]: session.app.AsyncResult(compare_job.run_task_id(job_id, run["name"]))
            for run in runs
        }
        outcomes = waiting.wait_for_tasks(
            results, progress.run_state, progress.run_progress, session.watch
        )
        progress.close()
        table = [
            _collect_run(
                session.store, job_id, run, outcomes[run["name"]], listing, summaries, out_dir
            )
            for run in runs
        ]
    _write_comparison(table, out_dir, job_id)
    _print_table(table, out_dir, time.perf_counter() - started)
    return 0 if all(row["state"] == "succeeded" for row in table) else 1


def _collect_run(store, job_id, run, outcome, listing, summaries, out_dir) -> dict:
    options = run["options"]
    row = {"name": run["name"], "optimizer": options["optimizer"]}
    row["learning_rate"] = options["learning_rate"]
    if outcome["state"] != "SUCCESS":
        return row | {"state": "failed", "error": outcome["error"]}
    result = outcome["result"]
    run_dir = out_dir / run["name"]
    run_id = compare_job.run_job_id(job_id, run["name"])
    metrics = collect_training(
        store, run_id, options, listing_summary(listing), summaries, result, run_dir
    )
    metrics["timings"] = result["metrics"]["timings"]
    collect.save_metrics(metrics, run_dir)
    return row | {
        "state": "succeeded",
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "train_s": metrics["timings"]["train_s"],
        "best_epoch": metrics["best_epoch"],
        "history": metrics["history"],
        "device": metrics["device"],
    }


def _write_comparison(table: list[dict], out_dir: Path, job_id: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    collect.write_atomically(
        out_dir / "compare.json", (json.dumps(table, indent=2) + "\n").encode()
    )
    plots.plot_comparison([row for row in table if row["state"] == "succeeded"], out_dir, job_id)


def _print_table(table: list[dict], out_dir: Path, seconds: float) -> None:
    print(f"{'run':<16} {'optimizer':<9} {'rate':>8} {'held-out acc':>12} {'loss':>7}"
          f" {'train s':>8} {'best epoch':>10}")  # fmt: skip
    for row in table:
        start = f"{row['name']:<16} {row['optimizer']:<9} {row['learning_rate']:>8g}"
        if row["state"] != "succeeded":
            print(f"{start} FAILED: {row['error']}")
            continue
        print(
            f"{start} {row['test_accuracy']:>12.4f} {row['test_loss']:>7.4f}"
            f" {row['train_s']:>8.1f} {row['best_epoch'] or '-':>10}"
        )
    print(f"compare: {len(table)} runs in {seconds:.1f}s; results in {out_dir}/")
