"""What ``metrics.json`` holds, declared once: the train task's part and the client's.

The train task returns ``WORKER_FIELDS``; the client adds what only it knows
(the listing, the shards, its timings) and writes ``JOB_FIELDS`` in this
order. A result read back from Redis may have been written by anyone who
holds the password, so the client checks it against the schema before it
writes a file (``check``).
"""

from catdog_queue.shared.options import TrainingOptions

NUMBER = (int, float)
MAX_WARNINGS = 10
MAX_WARNING_LENGTH = 1000
OPTIONAL_INT = (int, type(None))

WORKER_FIELDS = {
    "test_loss": NUMBER,
    "test_accuracy": NUMBER,
    "train_accuracy": NUMBER,
    "confusion_matrix": list,
    "warnings": list,  # in words: a model collapsed to one label, at chance (training.collapse)
    "train_images": int,
    "test_images": int,
    "test_set_sha256": str,  # which files were held out: equal digests, equal sets
    "validation": dict,
    "history": list,
    "epochs_run": int,
    "best_epoch": OPTIONAL_INT,
    "resumed_from_epoch": OPTIONAL_INT,
    "device": str,  # the device that trained: "CPU: <model>" or "GPU: <name>"
    "backend": str,  # Keras's backend that trained: "tensorflow", "jax" or "torch"
    "mixed_precision": bool,  # whether it was used (asked for, and on a GPU)
    "jit_compile": bool,  # whether the steps ran compiled with XLA (training.execution)
    "steps_per_execution": int,  # training steps per call into the compiled step
    "train_devices": dict,  # count, names and strategy of the devices that trained
    "images_used": int,
    "shards_redecoded": int,
    "data_mode": str,  # "memory" or "stream": how training read the shards
    "data_feed": dict,  # why that mode, the sizes, the stream's window
    "peak_rss_bytes": OPTIONAL_INT,  # of the process that trained
    "timings": dict,
}
# Options that the outcome reports instead (device, mixed_precision) are not repeated.
OPTION_FIELDS = {
    name: object
    for name in TrainingOptions.__dataclass_fields__
    if name not in ("device", "mixed_precision")
}
JOB_FIELDS = {
    "job_id": str,
    "data_dir": str,
    **OPTION_FIELDS,
    "images_total": int,
    "images_rejected": list,
    "shards": dict,
    **WORKER_FIELDS,
}


class ResultRejected(ValueError):
    """A result read from Redis is not what the job's tasks return: it is not used."""


def check(values, fields: dict, what: str) -> dict:
    """``values`` if it has exactly ``fields``, each of its declared type."""
    if not isinstance(values, dict):
        raise ResultRejected(f"{what} is not a JSON object: {type(values).__name__}")
    missing = sorted(set(fields) - set(values))
    unknown = sorted(set(values) - set(fields))
    if missing or unknown:
        raise ResultRejected(f"{what} has missing fields {missing} or unknown ones {unknown}")
    for name, kind in fields.items():
        value = values[name]
        if kind is not object and (not isinstance(value, kind) or _bool_as_number(value, kind)):
            raise ResultRejected(f"{what}: {name} is a {type(value).__name__}, not {kind}")
    return values


def _bool_as_number(value, kind) -> bool:
    return isinstance(value, bool) and kind is not bool


def check_worker_metrics(worker) -> dict:
    """The train task's metrics, down to what the client reads inside them.

    The history is plotted and the timings are printed: a forged entry must
    be refused here, not crash the plot or the summary line.
    """
    what = "the train task's metrics"
    check(worker, WORKER_FIELDS, what)
    if not all(_are_numbers(epoch) for epoch in worker["history"]):
        raise ResultRejected(f"{what}: history is not a list of numbers per epoch")
    timings = worker["timings"]
    if not _are_numbers(timings) or not isinstance(timings.get("train_s"), NUMBER):
        raise ResultRejected(f"{what}: timings are not seconds with train_s: {timings!r:.80}")
    return worker


def _are_numbers(values) -> bool:
    """``{name: number or None}``, as Keras's logs per epoch and the timings are."""
    return isinstance(values, dict) and all(
        isinstance(name, str) and (value is None or isinstance(value, NUMBER))
        and not isinstance(value, bool)
        for name, value in values.items()
    )  # fmt: skip


def job_metrics(job_id: str, listing: dict, options: dict, summaries, worker: dict) -> dict:
    """``metrics.json`` of one training run, in the declared order."""
    decode_rejected = [item for summary in summaries for item in summary["rejected"]]
    values = {"job_id": job_id, "data_dir": listing["root"]}
    values |= {name: options[name] for name in OPTION_FIELDS}
    values |= {
        "images_total": listing["total"],
        "images_rejected": listing["rejected"] + decode_rejected,
        "shards": {
            "count": len(summaries),
            "bytes": sum(summary["bytes"] for summary in summaries),
            "reused": sum(1 for summary in summaries if summary["reused"]),
        },
    }
    values |= check_worker_metrics(worker)
    check_warnings(values["warnings"])
    return {name: values[name] for name in JOB_FIELDS}


def check_warnings(warnings) -> list[str]:
    """A few printable sentences: the client prints them to a terminal."""
    if len(warnings) > MAX_WARNINGS or not all(
        isinstance(text, str) and len(text) <= MAX_WARNING_LENGTH and text.isprintable()
        for text in warnings
    ):
        raise ResultRejected(
            f"the train task's warnings are not up to {MAX_WARNINGS} printable sentences of at"
            f" most {MAX_WARNING_LENGTH} characters: {warnings!r:.200}"
        )
    return warnings
