"""``python -m bench backends``: the same epochs on TensorFlow, JAX and PyTorch, side by side.

Each measurement is a child process (``bench.backend_child``) with ``KERAS_BACKEND``
set, run interleaved (TensorFlow, JAX, PyTorch, TensorFlow ...) so that others' load on
shared cores falls on all alike; the figures are medians. Prints a Markdown table of
backend x device x model: images/s of a timed epoch and the share of it spent waiting
for input, then each other backend's epoch time over TensorFlow's for each model. A
backend that is not installed is left out, saying so.
"""

import importlib.util
import statistics
import sys

from bench.epochs_bench import IMAGES, VARIANTS
from bench.procs import run_json

BACKENDS = ("tensorflow", "jax", "torch")
NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def child_arguments(model_name: str, images: int, epochs: int) -> list[str]:
    return ["-m", "bench.backend_child", "--model", model_name, "--images", str(images),
            "--epochs", str(epochs)]  # fmt: skip


def summary_rows(results: list[dict]) -> list[dict]:
    """One row per (backend, device, model): median images/s and input-wait share."""
    grouped = {}
    for result in results:
        key = (result["backend"], result["device"], result["model"], result["px"])
        grouped.setdefault(key, []).append(result)
    rows = []
    for (backend, device, model, px), runs in grouped.items():
        seconds = statistics.median(s for run in runs for s in run["epoch_s"])
        waits = [run["input_wait_share"] for run in runs if run["input_wait_share"] is not None]
        rows.append({
            "backend": backend, "device": device, "model": model, "px": px,
            "epoch_s": seconds, "images_per_s": runs[0]["images"] / seconds,
            "input_wait_share": statistics.median(waits) if waits else None,
        })  # fmt: skip
    return rows


def ratios(rows: list[dict], slower: str = "jax", reference: str = "tensorflow") -> dict:
    """Per model: ``slower``'s epoch seconds over ``reference``'s."""
    by_key = {(row["backend"], row["model"]): row["epoch_s"] for row in rows}
    return {
        model: by_key[slower, model] / by_key[reference, model]
        for (backend, model) in by_key
        if backend == reference and (slower, model) in by_key
    }


def installed_backends(find_spec=importlib.util.find_spec) -> list[str]:
    present = [backend for backend in BACKENDS if find_spec(backend) is not None]
    for backend in sorted(set(BACKENDS) - set(present)):
        print(f"{backend} is not installed: left out", file=sys.stderr)
    return present


def backends(args) -> int:
    import os

    images, epochs = args.limit or IMAGES, args.epochs or 3
    present = installed_backends()
    results = []
    for repeat in range(args.repeats):
        for model_name, *_ in VARIANTS:
            for backend in present:
                print(f"repeat {repeat + 1}: {model_name} on {backend}", file=sys.stderr)
                environment = os.environ | {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
                arguments = child_arguments(model_name, images, epochs)  # run_timed adds python
                results.append(run_json(arguments, environment))
    print(f"{images} random images a run, {epochs} timed epochs after one that compiles,"
          f" {args.repeats} run(s) each, interleaved")  # fmt: skip
    print("| backend | device | model | px | epoch s (median) | images/s | input wait |")
    print("| --- | --- | --- | --: | --: | --: | --: |")
    rows = summary_rows(results)
    for row in rows:
        wait = row["input_wait_share"]
        shown = "n/a" if wait is None else f"{wait:.1%}"
        print(f"| {row['backend']} | {row['device']} | {row['model']} | {row['px']} |"
              f" {row['epoch_s']:.2f} | {row['images_per_s']:,.0f} | {shown} |")  # fmt: skip
    for backend in present[1:] if present[:1] == ["tensorflow"] else []:
        for model, ratio in ratios(rows, slower=backend).items():
            print(f"{model}: {NAMES[backend]} epoch / TensorFlow epoch = {ratio:.2f}")
    return 0
