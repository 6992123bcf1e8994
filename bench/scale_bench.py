"""``scale``: the same job on 2,500 to 100,000 images; time and memory as it grows.

Each size is one ``submit.py train --image-size 64`` with the embedded
cluster and a fresh cache (a cold decode), in each ``--data-mode`` asked for
(default: ``auto``, what a user gets). Per run: wall time, images/s end to
end and in ``model.fit``, the shards' bytes in Redis per pixel byte, and the
peak resident memory (``VmHWM``) of the process that trained: the gpu
worker's own figure in ``metrics.json`` (its pool child, if the worker
forks one), checked against the worker's log line.
"""

import re
import shutil

from bench import scale_data, stats
from bench.procs import KAGGLE_TRAIN, read_metrics, say, scratch_dir, submit_train

SIZES = (2_500, 10_000, 25_000, 100_000)
IMAGE_SIZE = 64
RSS_TARGET = 1.5
_LOG_RSS = re.compile(r"peak RSS (\d+) MiB")


def scale(args) -> int:
    sizes = tuple(args.sizes or SIZES)
    modes = tuple(args.modes or ("auto",))
    epochs = args.epochs
    runs = []
    for count in sizes:
        data = scale_data.make_data_set(KAGGLE_TRAIN.resolve(), count, say)
        for mode in modes:
            runs.append(_one_run(data, count, mode, epochs))
    rows = [
        [
            f"{run['count']:,}",
            run["requested"],
            run["mode"],
            run["wall"],
            run["images_per_s"],
            run["fit_images_per_s"],
            run["decode_s"],
            run["train_s"],
            run["evaluate_s"],
            run["redis_per_pixel"],
            run["peak_rss_mib"],
            run["log_rss_mib"],
            run["accuracy"],
            run["others"],
        ]
        for run in runs
    ]
    print(f"submit.py train --image-size {IMAGE_SIZE} --epochs {epochs}, MLP, fresh cache per run")
    headers = [
        "images", "--data-mode", "used", "wall s", "images/s (wall)", "fit images/s",
        "decode s", "model.fit s", "evaluate s", "Redis bytes / pixel byte",
        "gpu peak RSS MiB", "(its log line)", "held-out accuracy", "others' CPU",
    ]  # fmt: skip
    print(stats.format_table(headers, rows))
    smallest, largest = min(sizes), max(sizes)
    headline = None
    for mode in modes:
        small = next(run for run in runs if run["count"] == smallest and run["requested"] == mode)
        large = next(run for run in runs if run["count"] == largest and run["requested"] == mode)
        per_image = stats.ratio(large["wall"] / largest, small["wall"] / smallest)
        memory = stats.ratio(large["peak_rss_mib"], small["peak_rss_mib"])
        verdict = stats.target_verdict(memory, RSS_TARGET, at_most=True)
        print(
            f"--data-mode {mode}: wall seconds per image {largest:,} / {smallest:,}:"
            f" {per_image:.2f} (1.0 is linear); peak RSS {largest:,} / {smallest:,}:"
            f" {memory:.2f}, target <= {RSS_TARGET}: {verdict}"
        )
        headline = memory if headline is None else headline  # the first mode asked for
    print(
        f"scale ratio (gpu worker peak RSS, {largest:,} / {smallest:,} images,"
        f" --data-mode {modes[0]}): {headline:.2f}"
    )
    return 0


def _one_run(data, count: int, mode: str, epochs: int) -> dict:
    scratch = scratch_dir("scale")
    try:
        finished = submit_train(
            data, scratch / "cache", scratch / "out", epochs,
            "--image-size", str(IMAGE_SIZE), "--data-mode", mode,
        )  # fmt: skip
        metrics = read_metrics(scratch / "out")
        log = (scratch / "out" / "logs" / "gpu-worker.log").read_text(errors="replace")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    timings, images = metrics["timings"], metrics["images_used"]
    logged = _LOG_RSS.findall(log)
    run = {
        "count": count,
        "requested": mode,
        "mode": metrics["data_mode"],
        "wall": finished.wall_s,
        "images_per_s": images / finished.wall_s,
        "fit_images_per_s": metrics["train_images"] * metrics["epochs_run"] / timings["train_s"],
        "decode_s": timings["decode_s"],
        "train_s": timings["train_s"],
        "evaluate_s": timings["evaluate_s"],
        "redis_per_pixel": metrics["shards"]["bytes"] / (images * IMAGE_SIZE * IMAGE_SIZE * 3),
        "peak_rss_mib": metrics["peak_rss_bytes"] / 2**20,
        "log_rss_mib": float(logged[-1]) if logged else None,
        "accuracy": metrics["test_accuracy"],
        "others": finished.others_cores,
    }
    say(
        f"scale {count} ({mode} -> {run['mode']}): {run['wall']:.1f}s wall,"
        f" peak RSS {run['peak_rss_mib']:.0f} MiB; others used {run['others']:.2f} cores"
    )
    return run
