"""``submit.py compare``: optimizers (the tutorial's comparison) or models, side by side."""

import json
import sys
import time
from pathlib import Path

from catdog_queue.client import collect, plots
from catdog_queue.client.commands.common import (
    require_standing_cluster_for_detach,
    training_options,
)
from catdog_queue.client.commands.submit_job import submit_and_follow
from catdog_queue.client.commands.train import warning_sentences
from catdog_queue.client.output import OutputFolder
from catdog_queue.client.session import new_job_id
from catdog_queue.jobs import compare as compare_job
from catdog_queue.jobs.records import DataPart, JobRecord, listing_summary
from catdog_queue.launch import planned_compare
from catdog_queue.shared.listing import list_labelled_images, plan_shards, require_trainable
from catdog_queue.shared.options import MODEL_DEFAULTS

# What compare trains with no --optimizers: the tutorial's three (its adagrad
# run silently reused sgd's; here each is built from scratch).
TUTORIAL_OPTIMIZERS = ("sgd", "rmsprop", "adagrad")


def plan_runs(args, labels: list[str], layout: str = "names") -> list[dict]:
    """One run per model, optimizer and learning rate asked for; all on one decoding.

    With several ``--models`` and no ``--optimizers`` each model trains with its
    own default optimizer; without ``--image-size`` every run gets the largest of
    the models' own sizes, so that one set of shards (and one split) serves all.
    """
    models = list(dict.fromkeys(getattr(args, "models", None) or [args.model]))
    rates = list(dict.fromkeys(args.learning_rates or [None]))
    image_size = args.image_size or max(MODEL_DEFAULTS[model]["image_size"] for model in models)
    runs = []
    for model in models:
        for optimizer in _optimizers(args, several_models=len(models) > 1):
            for rate in rates:
                options = training_options(
                    args, labels, optimizer, rate, layout, model=model, image_size=image_size
                )
                name = compare_job.run_name(
                    options.optimizer, options.learning_rate, len(rates) > 1
                )
                if len(models) > 1:
                    name = f"{model}-{name}"
                runs.append({"name": name, "options": options.to_json()})
    return runs


def _optimizers(args, several_models: bool) -> list:
    if args.optimizers:
        return list(dict.fromkeys(args.optimizers))
    return [None] if several_models else list(TUTORIAL_OPTIMIZERS)


def run_compare(args) -> int:
    """Plan, send and follow the job as ``catdog_queue.compare()`` does (``submit_job``)."""
    require_standing_cluster_for_detach(args)
    return submit_and_follow(args, planned_compare(args))


def plan_compare(args) -> JobRecord:
    """List the folder, cut shards, plan one run per optimizer (and rate)."""
    listing = list_labelled_images(args.data)
    require_trainable(listing)
    runs = plan_runs(args, listing.labels, listing.layout)
    image_size = runs[0]["options"]["image_size"]
    shards = plan_shards(listing, args.shard_size, image_size)
    job_id = new_job_id()
    root = args.worker_data_dir or str(listing.root)
    record = JobRecord(
        job_id, "compare", [DataPart("train", root, listing_summary(listing), shards)], runs=runs
    )
    print(
        f"job {job_id}: {len(listing.files)} images in {len(shards)} shards,"
        f" {len(runs)} runs: {', '.join(run['name'] for run in runs)}",
        file=sys.stderr,
    )
    return record


def output_path(out, job_id: str) -> Path:
    return Path(out or Path("runs") / job_id)


def log_dir(args, out: Path, job_id: str) -> Path:
    return out / "logs"


def collect_results(session, record, followed, out: Path, timings: dict, started: float) -> dict:
    summaries, output = followed.summaries["train"], OutputFolder(out)
    table = [
        _collect_run(session.store, record, run, followed.outcomes[run["name"]], summaries, output)
        for run in record.runs
    ]
    _write_comparison(table, output, record.job_id)
    return {"table": table, "seconds": time.perf_counter() - started}


def report(collected: dict, out: Path) -> int:
    table = collected["table"]
    _print_table(table, out, collected["seconds"])
    return 0 if all(row["state"] == "succeeded" for row in table) else 1


def _collect_run(store, record, run, outcome, summaries, output: OutputFolder) -> dict:
    options = run["options"]
    row = {"name": run["name"], "model": options["model"], "optimizer": options["optimizer"]}
    row["learning_rate"] = options["learning_rate"]
    if outcome["state"] != "SUCCESS":
        return row | {"state": "failed", "error": outcome["error"]}
    result = outcome["result"]
    run_output = output.subfolder(run["name"])
    run_id = compare_job.run_job_id(record.job_id, run["name"])
    metrics = collect.collect_training(
        store, run_id, record, options, summaries, result, run_output
    )
    metrics["timings"] = result["metrics"]["timings"]
    collect.save_metrics(metrics, run_output)
    return row | {
        "state": "succeeded",
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "train_s": metrics["timings"]["train_s"],
        "best_epoch": metrics["best_epoch"],
        "history": metrics["history"],
        "device": metrics["device"],
        "warnings": metrics["warnings"],
    }


def _write_comparison(table: list[dict], output: OutputFolder, job_id: str) -> None:
    output.write("compare.json", (json.dumps(table, indent=2) + "\n").encode())
    plots.plot_comparison([row for row in table if row["state"] == "succeeded"], output, job_id)


def _print_table(table: list[dict], out_dir: Path, seconds: float) -> None:
    print(f"{'run':<16} {'model':<14} {'optimizer':<9} {'rate':>8} {'held-out acc':>12}"
          f" {'loss':>7} {'train s':>8} {'best epoch':>10}")  # fmt: skip
    for row in table:
        start = f"{row['name']:<16} {row['model']:<14} {row['optimizer']:<9}"
        start += f" {row['learning_rate']:>8g}"
        if row["state"] != "succeeded":
            print(f"{start} FAILED: {row['error']}")
            continue
        print(
            f"{start} {row['test_accuracy']:>12.4f} {row['test_loss']:>7.4f}"
            f" {row['train_s']:>8.1f} {row['best_epoch'] or '-':>10}"
            + (
                f" WARNING: {' '.join(warning_sentences(row['warnings']))}"
                if row["warnings"]
                else ""
            )
        )
    print(f"compare: {len(table)} runs in {seconds:.1f}s; results in {out_dir}/")
