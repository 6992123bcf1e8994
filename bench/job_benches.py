"""``overhead``, ``cache``, ``train`` and ``predict``: whole ``submit.py`` runs.

Each run is ``python submit.py ...`` as a user types it, with the embedded
cluster and a ``--cache-dir`` of its own under a temporary folder (removed
afterwards), timed from outside by the wall clock and by the moment each of
its stderr lines arrives.
"""

import re
import shutil
from pathlib import Path

from bench import stats
from bench.procs import (
    KAGGLE_TEST,
    KAGGLE_TRAIN,
    read_metrics,
    run_json,
    run_timed,
    say,
    scratch_dir,
    submit_train,
)

OVERHEAD_TARGET = 1.10
CACHE_TARGET = 0.05
TRAIN_TARGET = 0.95
_JOB_LINE = re.compile(r"^job (\S+): ")
_CPU_LOG = {
    "ready": r"cpu-worker-\S+ ready\.",
    "first_received": r"Task catdog\.decode_shard\[\S+\] received",
}
_GPU_LOG = {
    "tensorflow_ready": r"TensorFlow ready in ([\d.]+)s",
    "ready": r"gpu-worker-\S+ ready\.",
    "received": r"Task catdog\.(?:predict|train)\[\S+\] received",
    "assembled": r"catalogue of (\d+) images in \d+ shards .* headers in ([\d.]+)s",
    "predicted": r"predicted (\d+) images in ([\d.]+)s",
    "succeeded": r"Task catdog\.(?:predict|train)\[\S+\] succeeded in ([\d.]+)s",
}


def _data(args) -> Path:
    return Path(args.data or KAGGLE_TRAIN).resolve()


def _job_id(finished) -> str | None:
    for _, text in finished.stderr_lines:
        match = _JOB_LINE.match(text)
        if match:
            return match.group(1)
    return None


def _last_decode_success(log_text: str) -> float | None:
    """Wall-clock time of the last ``decode_shard ... succeeded`` line of a cpu worker log."""
    last = None
    for line in log_text.splitlines():
        if "Task catdog.decode_shard[" in line and "succeeded" in line:
            found = stats.celery_log_events(line, {"line": r"succeeded"})
            if found:
                last = found["line"][0]
    return last


# --------------------------------------------------------------------------- overhead


def overhead(args) -> int:
    data, epochs = _data(args), args.epochs
    jobs, plains = [], []
    for repeat, variant in stats.interleaved(("job", "plain"), args.repeats):
        if variant == "job":
            scratch = scratch_dir("overhead")
            try:
                finished = submit_train(data, scratch / "cache", scratch / "out", epochs)
                metrics = read_metrics(scratch / "out")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            first_epoch, exact = stats.first_epoch_seconds(finished.stderr_lines, finished.started)
            run = {
                "wall": finished.wall_s,
                "first_epoch": first_epoch,
                "exact": exact,
                "others": finished.others_cores,
                "timings": metrics["timings"],
                "accuracy": metrics["test_accuracy"],
            }
            jobs.append(run)
        else:
            result = run_json(["-m", "bench.plain", "--data", str(data), "--epochs", str(epochs)])
            finished = result.pop("_finished")
            first_epoch, exact = stats.first_epoch_seconds(finished.stderr_lines, finished.started)
            run = {
                "wall": result["_wall_s"],
                "first_epoch": first_epoch,
                "exact": exact,
                "others": finished.others_cores,
                "timings": result,
            }
            plains.append(run)
        say(
            f"overhead #{repeat + 1} {variant}: {run['wall']:.1f}s wall,"
            f" first epoch after {stats.format_number(run['first_epoch'])}s"
            + ("" if run["exact"] else " (extrapolated: the epoch 1 line was not printed)")
            + f"; others used {run['others']:.2f} cores meanwhile"
        )
    job_wall = stats.median(run["wall"] for run in jobs)
    plain_wall = stats.median(run["wall"] for run in plains)

    def job_timing(name):
        return stats.median(run["timings"].get(name, float("nan")) for run in jobs)

    def plain_timing(name):
        return stats.median(run["timings"][name] for run in plains)

    rows = [
        [
            "submit.py train (embedded cluster)",
            job_wall,
            _median_or_none(run["first_epoch"] for run in jobs),
            job_timing("decode_s"),
            job_timing("train_s"),
            stats.median(run["others"] for run in jobs),
        ],
        [
            "plain process (multiprocessing + fit)",
            plain_wall,
            _median_or_none(run["first_epoch"] for run in plains),
            plain_timing("decode_s"),
            plain_timing("fit_s"),
            stats.median(run["others"] for run in plains),
        ],
    ]
    print(f"{epochs} epochs, MLP, SGD, batch 128, on {data}; medians of {args.repeats} run(s)")
    missing = sum(1 for run in jobs if not run["exact"])
    if missing:
        print(
            f"{missing} of {len(jobs)} job runs printed no `train: epoch 1/N` line: their time"
            " to first epoch is extrapolated back from the first two epoch lines printed"
        )
    print(
        stats.format_table(
            ["run", "wall s", "to first epoch s", "decode s", "model.fit s", "others' CPU (cores)"],
            rows,
        )
    )
    job_total = job_timing("total_s")
    breakdown = [
        ["list files", job_timing("list_s")],
        ["start Redis + spawn workers", job_timing("cluster_start_s")],
        ["decode phase (client view)", job_timing("decode_s")],
        ["assemble (gpu task)", job_timing("assemble_s")],
        ["model.fit (gpu task)", job_timing("train_s")],
        ["evaluate (gpu task)", job_timing("evaluate_s")],
        ["collect: model files, metrics, plot", job_timing("collect_s")],
        ["client total_s (metrics.json)", job_total],
        ["interpreter start + stop cluster (wall - total_s)", job_wall - job_total],
        ["plain: decode", plain_timing("decode_s")],
        ["plain: import keras", plain_timing("import_s")],
        ["plain: split + build model", plain_timing("prepare_s")],
        ["plain: model.fit", plain_timing("fit_s")],
    ]
    print(stats.format_table(["phase", "seconds"], breakdown))
    pairs = [stats.ratio(job["wall"], plain["wall"]) for job, plain in zip(jobs, plains)]
    # On a shared machine the pairs spread with whoever else runs: show them.
    print("job / plain wall, pair by pair: " + ", ".join(f"{pair:.2f}" for pair in pairs))
    value = stats.ratio(job_wall, plain_wall)
    verdict = stats.target_verdict(value, OVERHEAD_TARGET, at_most=True)
    print(f"target: job / plain wall <= {OVERHEAD_TARGET}: {verdict}")
    print(f"overhead ratio (job / plain wall): {value:.2f}")
    return 0


def _median_or_none(values):
    """The median of the values that are known: a job's ``train: epoch 1/N`` line is
    missing when the client's 0.25 s poll never saw the end-of-epoch-1 state."""
    known = [value for value in values if value is not None]
    return stats.median(known) if known else None


# --------------------------------------------------------------------------- cache


def cache(args) -> int:
    data = _data(args)
    rows, ratios = [], []
    for repeat in range(args.repeats):
        scratch = scratch_dir("cache")
        try:
            runs = []
            for which in ("first", "second"):
                out = scratch / which
                finished = submit_train(data, scratch / "cache", out, 1)
                metrics = read_metrics(out)
                runs.append((which, finished, metrics, _cpu_worker_view(finished, out)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for which, finished, metrics, view in runs:
            rows.append(
                [
                    f"#{repeat + 1} {which}",
                    metrics["timings"]["decode_s"],
                    view.get("worker_ready"),
                    view.get("tasks"),
                    metrics["shards"]["reused"],
                    finished.wall_s,
                    finished.others_cores,
                ]
            )
            say(f"cache #{repeat + 1} {which}: decode_s {metrics['timings']['decode_s']:.2f}")
        ratios.append(
            stats.ratio(runs[1][2]["timings"]["decode_s"], runs[0][2]["timings"]["decode_s"])
        )
    print(f"submit.py train --epochs 1 twice on {data} with the same --cache-dir")
    print(
        stats.format_table(
            [
                "run",
                "decode_s",
                "of which: cpu worker not ready yet",
                "of which: decode tasks (first received to last done)",
                "shards reused",
                "wall s",
                "others' CPU (cores)",
            ],
            rows,
        )
    )
    value = stats.median(ratios)
    verdict = stats.target_verdict(value, CACHE_TARGET, at_most=True)
    print(f"target: second decode <= {CACHE_TARGET:.0%} of the first: {verdict}")
    print(f"cache ratio (second decode_s / first decode_s): {value:.3f} ({value:.1%})")
    return 0


def _cpu_worker_view(finished, out_dir: Path) -> dict:
    """From the client's stderr and the cpu worker's log: when the decode phase began
    (the ``local cluster:`` line, printed just before the tasks are sent), when the
    worker said ``ready.``, when it received the first task and finished the last."""
    phase_start = None
    for stamp, text in finished.stderr_lines:
        if text.startswith("local cluster:"):
            phase_start = stamp
            break
    log = out_dir / "logs" / "cpu-worker.log"
    if phase_start is None or not log.exists():
        return {}
    text = log.read_text(errors="replace")
    events = stats.celery_log_events(text, _CPU_LOG)
    last_done = _last_decode_success(text)
    view = {}
    if "ready" in events:
        view["worker_ready"] = max(0.0, events["ready"][0] - phase_start)
    if "first_received" in events and last_done is not None:
        view["tasks"] = last_done - events["first_received"][0]
    return view


# --------------------------------------------------------------------------- train


def train(args) -> int:
    data, epochs = _data(args), args.epochs
    scratch = scratch_dir("train")
    samples = []
    details = {}
    try:
        variants = ("job", "plain", "plain + checkpoint callback", "plain + progress callback")
        for repeat, variant in stats.interleaved(variants, args.repeats):
            if variant == "job":
                out = scratch / f"out-{repeat}"
                # One cache for every job run: decoding is not what is measured here.
                finished = submit_train(data, scratch / "cache", out, epochs)
                metrics = read_metrics(out)
                images, seconds = metrics["train_images"], metrics["timings"]["train_s"]
                done_epochs = metrics["epochs_run"]
                others = finished.others_cores
            else:
                arguments = ["-m", "bench.plain", "--data", str(data), "--epochs", str(epochs)]
                for kind in ("checkpoint", "progress"):
                    if kind in variant:
                        arguments += ["--callbacks", kind]
                result = run_json(arguments)
                images, seconds, done_epochs = (
                    result["train_images"],
                    result["fit_s"],
                    result["epochs"],
                )
                others = result["_finished"].others_cores
            rate = images * done_epochs / seconds
            samples.append((variant, rate))
            details.setdefault(variant, []).append((images, done_epochs, seconds, others))
            say(
                f"train #{repeat + 1} {variant}: {images} x {done_epochs} in {seconds:.2f}s;"
                f" others used {others:.2f} cores meanwhile"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rates = stats.medians_by_name(samples)
    rows = []
    for variant, runs in details.items():
        rows.append(
            [
                variant,
                runs[0][0],
                runs[0][1],
                stats.median(run[2] for run in runs),
                min(run[2] for run in runs),
                max(run[2] for run in runs),
                rates[variant],
                stats.ratio(rates[variant], rates["plain"]),
                stats.median(run[3] for run in runs),
            ]
        )
    print(f"MLP, SGD, batch 128, {epochs} epochs, held-out validation each epoch, on {data}")
    print(
        stats.format_table(
            [
                "run",
                "train images",
                "epochs",
                "model.fit s (median)",
                "min s",
                "max s",
                "samples/s",
                "x plain",
                "others' CPU (cores)",
            ],
            rows,
        )
    )
    value = stats.ratio(rates["job"], rates["plain"])
    verdict = stats.target_verdict(value, TRAIN_TARGET, at_most=False)
    print(f"target: job / plain samples/s >= {TRAIN_TARGET}: {verdict}")
    print(f"train ratio (job / plain samples/s): {value:.2f}")
    return 0


# --------------------------------------------------------------------------- predict


def predict(args) -> int:
    test_data = Path(args.data or KAGGLE_TEST).resolve()
    scratch = scratch_dir("predict")
    rows, rates, task_rates = [], [], []
    try:
        say("predict: training a model first (submit.py train --epochs 2), not timed")
        submit_train(KAGGLE_TRAIN.resolve(), scratch / "train-cache", scratch / "model", 2)
        model = scratch / "model" / "model.keras"
        for repeat in range(args.repeats):
            cache_dir = scratch / f"cache-{repeat}"  # fresh: the decode is cold
            finished = run_timed(
                [
                    "submit.py", "predict", "--model", str(model), "--data", str(test_data),
                    "--out", str(scratch / f"predictions-{repeat}.csv"),
                    "--cache-dir", str(cache_dir),
                ]
            ).check()  # fmt: skip
            phases, images = _predict_phases(finished, cache_dir)
            rows.extend([[f"#{repeat + 1} {name}", seconds] for name, seconds in phases])
            rates.append(images / finished.wall_s)
            predict_seconds = dict(phases).get("model.predict_on_batch (gpu task)")
            if predict_seconds:
                task_rates.append(images / predict_seconds)
            summary = stats.parse_predict_summary(finished.stdout)
            say(f"predict #{repeat + 1}: {finished.wall_s:.1f}s wall; summary {summary}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"submit.py predict on {test_data} ({images} images), fresh --cache-dir each run")
    print(stats.format_table(["phase", "seconds"], rows))
    rate = stats.median(rates)
    task_rate = stats.median(task_rates) if task_rates else float("nan")
    print(
        f"predict: {rate:.0f} images/s end to end (wall), {task_rate:.0f} images/s in"
        f" model.predict; end to end / model {stats.ratio(rate, task_rate):.3f}"
    )
    return 0


def _predict_phases(finished, cache_dir: Path) -> tuple[list[tuple[str, float]], int]:
    """Seconds of each phase of one ``submit.py predict`` run, from its stderr and
    the gpu worker's log; and the number of images predicted."""
    start = finished.started
    job_line = stats.line_time(finished.stderr_lines, "job ", start)
    cluster_line = stats.line_time(finished.stderr_lines, "local cluster:", start)
    decoded = None
    for stamp, text in finished.stderr_lines:
        if text.startswith("decode: "):
            parts = text.split()[1].split("/")
            if parts[0] == parts[1]:
                decoded = stamp - start
                break
    log_dir = cache_dir / "logs" / (_job_id(finished) or "?")
    gpu = {}
    if (log_dir / "gpu-worker.log").exists():
        gpu = stats.celery_log_events(
            (log_dir / "gpu-worker.log").read_text(errors="replace"), _GPU_LOG
        )
    summary = stats.parse_predict_summary(finished.stdout) or {}
    images = summary.get("rows") or (int(gpu["predicted"][1][0]) if "predicted" in gpu else 0)
    phases = [("python start-up, list files, read the model", job_line)]
    phases.append(("start Redis + spawn workers", _difference(cluster_line, job_line)))
    phases.append(("decode phase (2000 images, cold)", _difference(decoded, cluster_line)))
    if "tensorflow_ready" in gpu:
        phases.append(("gpu worker: import TensorFlow", float(gpu["tensorflow_ready"][1][0])))
    if "received" in gpu and decoded is not None:
        waited = gpu["received"][0] - start - decoded
        phases.append(("decode done -> predict task received", waited))
    if "assembled" in gpu:
        phases.append(("read shard headers (gpu task)", float(gpu["assembled"][1][1])))
    if "predicted" in gpu:
        predicted = float(gpu["predicted"][1][1])
        phases.append(("model.predict_on_batch (gpu task)", predicted))
        if "succeeded" in gpu:
            task = float(gpu["succeeded"][1][0])
            phases.append(
                ("rest of the gpu task (load model, store result)",
                 task - predicted - float(gpu["assembled"][1][1])),
            )  # fmt: skip
            phases.append(
                ("after the task: CSV, contact sheet, stop cluster",
                 finished.started + finished.wall_s - gpu["succeeded"][0]),
            )  # fmt: skip
    phases.append(("wall, in all", finished.wall_s))
    phases.append(("(others' CPU meanwhile, cores)", finished.others_cores))
    return phases, images


def _difference(later, earlier):
    if later is None or earlier is None:
        return None
    return later - earlier
