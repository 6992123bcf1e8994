"""A job record read back from Redis, checked field by field before the client uses it.

Whoever holds a Redis password can write a record. The client builds task
ids, artifact keys and output folders from it, so every field must be what
this project writes: the id that was asked for, a known kind, shard specs of
relative paths, run names that are one path component, options that parse,
artifact keys of this job. Anything else is refused with one line naming the
field and what it held.
"""

import json
import math
import re

from catdog_queue.jobs.part_checks import checked_parts, shown
from catdog_queue.shared.metrics import ResultRejected
from catdog_queue.shared.options import OptionsError, PredictOptions, TrainingOptions
from catdog_queue.shared.shards import artifact_key
from catdog_queue.shared.task_arguments import INPUT_MODELS

# What client.session.new_job_id makes: the time, then three random bytes.
JOB_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
# Compare names its runs after the optimizer, and the rate with a grid ("sgd-0.01",
# "adam-1e+06"): each is a folder of the output and part of a task id.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
# The parts each kind of job has, by role, in order.
PARTS = {
    "train": (["train"], ["train", "predict"]),
    "compare": (["train"],),
    "predict": (["predict"],),
}
FIELDS = {"job_id", "kind", "parts", "options", "runs", "prediction", "upload", "created"}


class RecordRejected(ResultRejected):
    """A job record in Redis that this project did not write: nothing is done with it."""


def checked_record(text, job_id: str) -> dict:
    """The record's fields, checked to be job ``job_id``'s; options filled in and typed."""
    refuse = _refuser(job_id)
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        refuse("the record", text, "JSON")
    if not isinstance(data, dict):
        refuse("the record", data, "a JSON object")
    unknown = sorted(map(str, set(data) - FIELDS))
    if unknown:
        refuse("fields", unknown, f"only {sorted(FIELDS)}")
    if data.get("job_id") != job_id:
        refuse("job_id", data.get("job_id"), f"{job_id}, the id asked for")
    kind = data.get("kind")
    if kind not in PARTS:
        refuse("kind", kind, f"one of {', '.join(PARTS)}")
    data["parts"] = checked_parts(refuse, data.get("parts"), PARTS[kind])
    data["runs"] = _checked_runs(refuse, kind, data.get("runs", []))
    data["options"] = _checked_options(refuse, kind, data.get("options"))
    data["prediction"] = _checked_prediction(refuse, job_id, kind, data.get("prediction"))
    if not isinstance(data.get("upload", False), bool):
        refuse("upload", data["upload"], "true or false")
    created = data.get("created", 0.0)
    if (
        isinstance(created, bool)
        or not isinstance(created, int | float)
        or not math.isfinite(created)
    ):
        refuse("created", created, "a time in seconds")
    return data


def _refuser(job_id: str):
    """``refuse(field, value, expected)``; ``refuse.because(problem)`` for what says itself."""

    def because(problem: str):
        raise RecordRejected(f"job {job_id}: its record in Redis is refused: {problem}")

    def refuse(field: str, value, expected: str):
        because(f"{field} is {shown(value)}, expected {expected}")

    refuse.because = because
    return refuse


def _checked_runs(refuse, kind: str, runs) -> list:
    if kind != "compare":
        if runs != []:
            refuse("runs", runs, f"none for a {kind} job")
        return runs
    if not isinstance(runs, list) or not runs:
        refuse("runs", runs, "a list of runs")
    names = set()
    for number, run in enumerate(runs):
        field = f"runs[{number}]"
        if not isinstance(run, dict) or set(run) != {"name", "options"}:
            refuse(field, run, "a name and options")
        name = run["name"]
        if not isinstance(name, str) or not RUN_NAME.fullmatch(name) or name in names:
            refuse(f"{field}.name", name, f"a name of its own matching {RUN_NAME.pattern}")
        names.add(name)
        run["options"] = _parsed(refuse, f"{field}.options", TrainingOptions, run["options"])
    return runs


def _checked_options(refuse, kind: str, options):
    if kind != "train":
        if options is not None:
            refuse("options", options, f"none for a {kind} job (its runs have theirs)")
        return None
    return _parsed(refuse, "options", TrainingOptions, options)


def _checked_prediction(refuse, job_id: str, kind: str, prediction):
    if kind == "compare" or (kind == "train" and prediction is None):
        if prediction is not None:
            refuse("prediction", prediction, "none for a compare job")
        return None
    fields = {"options"} if kind == "train" else {"options", "model_name", "model_key"}
    if not isinstance(prediction, dict) or set(prediction) != fields:
        refuse("prediction", prediction, f"fields {sorted(fields)}")
    if kind == "predict":
        name = prediction["model_name"]
        if name not in INPUT_MODELS:
            refuse("prediction.model_name", name, f"one of {', '.join(INPUT_MODELS)}")
        if prediction["model_key"] != artifact_key(job_id, name):
            refuse("prediction.model_key", prediction["model_key"], "a key of this job")
    options = _parsed(refuse, "prediction.options", PredictOptions, prediction["options"])
    return prediction | {"options": options}


def _parsed(refuse, field: str, options_class, given) -> dict:
    """``given`` as the typed options parse it: every field present, every bound checked."""
    try:
        return options_class.from_json(given).to_json()
    except OptionsError as error:  # its message names the option and what it received
        refuse.because(f"{field} do not parse: {str(error)[:160]}")
