"""A job record read back from Redis is checked field by field before the client uses it."""

import json
from dataclasses import asdict

import pytest

from catdog_queue.jobs.part_checks import checked_summary
from catdog_queue.jobs.record_checks import RecordRejected
from catdog_queue.jobs.records import DataPart, JobNotFound, JobRecord, load_record, record_key
from catdog_queue.shared.metrics import ResultRejected
from catdog_queue.shared.options import PredictOptions, TrainingOptions
from catdog_queue.shared.shards import artifact_key

JOB_ID = "20261129-202606-0ba613"
SHARD_KEY = "catdog:shard:" + "ab" * 32


def shard(index=0, paths=("cat.1.jpg", "dog.1.jpg"), **changes) -> dict:
    return {"key": SHARD_KEY, "index": index, "paths": list(paths), "image_size": 8} | changes


def part(role="train", shards=None) -> DataPart:
    listing = {"root": "/data/train", "total": 2, "rejected": [], "layout": "names"}
    return DataPart(role, "/data/train", listing, shards if shards is not None else [shard()])


def options() -> dict:
    return TrainingOptions(("cat", "dog"), image_size=8).to_json()


def train_record(**changes) -> dict:
    record = JobRecord(JOB_ID, "train", [part()], options=options())
    return json.loads(record.to_json()) | changes


def compare_record(*names) -> dict:
    runs = [{"name": name, "options": options()} for name in names]
    return json.loads(JobRecord(JOB_ID, "compare", [part()], runs=runs).to_json())


def predict_record(**prediction_changes) -> dict:
    prediction = {
        "model_name": "input-model.keras",
        "model_key": artifact_key(JOB_ID, "input-model.keras"),
        "options": PredictOptions(("cat", "dog"), 8).to_json(),
    } | prediction_changes
    record = JobRecord(JOB_ID, "predict", [part("predict")], prediction=prediction)
    return json.loads(record.to_json())


class FakeRedis:
    def __init__(self, stored: dict):
        self.stored = stored

    def get(self, key):
        value = self.stored.get(key)
        return None if value is None else value.encode()


def load(record, job_id=JOB_ID) -> JobRecord:
    text = record if isinstance(record, str) else json.dumps(record)
    return load_record(FakeRedis({record_key(job_id): text}), job_id)


def refused(record, field: str, job_id=JOB_ID) -> str:
    with pytest.raises(RecordRejected) as caught:
        load(record, job_id)
    message = str(caught.value)
    assert field in message, message
    assert "\n" not in message and len(message) < 400, message
    return message


def test_records_this_project_writes_are_accepted():
    assert load(train_record()).options["image_size"] == 8
    assert [run["name"] for run in load(compare_record("sgd-0.01", "adam")).runs] == [
        "sgd-0.01",
        "adam",
    ]
    assert load(predict_record()).prediction["model_name"] == "input-model.keras"
    with_prediction = train_record(
        prediction={"options": PredictOptions(("cat", "dog"), 8).to_json()}
    )
    with_prediction["parts"].append(asdict(part("predict")))
    with_prediction["parts"][1]["shards"][0]["index"] = 1
    assert load(with_prediction).part("predict") is not None


def test_the_record_must_be_the_job_asked_for():
    message = refused(train_record(job_id="20261129-202606-ffffff"), "job_id")
    assert "20261129-202606-ffffff" in message
    refused(train_record(job_id="/tmp/escaped"), "job_id")
    refused(train_record(job_id="../../escaped"), "job_id")
    refused(train_record(job_id=None), "job_id")


def test_an_asked_id_that_is_no_job_id_is_not_looked_up():
    for asked in ("../../escaped", "/tmp/x", JOB_ID + "\n", JOB_ID + "-sgd", ""):
        with pytest.raises(JobNotFound, match="not a job id"):
            load_record(FakeRedis({}), asked)


def test_the_kind_must_be_known():
    refused(train_record(kind="shell"), "kind")
    refused(train_record(kind="compare"), "runs")  # a compare record without runs


@pytest.mark.parametrize(
    "name", ["../../escaped", "..", ".", "", "a/b", "/abs", "-x", "x" * 65, "sgd\x00", "sgd\n", 7]
)
def test_run_names_must_be_one_safe_path_component(name):
    refused(compare_record("sgd", name), "runs[1].name")


@pytest.mark.parametrize("name", ["sgd", "sgd-0.01", "sgd-1e-05", "adam-1e+06", "rmsprop-0.001"])
def test_the_run_names_compare_makes_are_accepted(name):
    assert load(compare_record(name)).runs[0]["name"] == name


def test_run_names_must_be_unique():
    refused(compare_record("sgd", "sgd"), "runs[1].name")


@pytest.mark.parametrize(
    "paths", [["/etc/passwd"], ["../x.jpg"], ["cat/../../x.jpg"], [""], [7], "cat.1.jpg", []]
)
def test_shard_paths_must_be_relative_and_stay_inside(paths):
    record = train_record()
    record["parts"][0]["shards"][0]["paths"] = paths
    refused(record, "parts[0].shards[0]: ")


def test_shards_are_specs_of_this_projects_shape():
    for changes, field in (
        ({"key": "catdog:job:x"}, "key"),
        ({"index": -1}, "index"),
        ({"index": True}, "index"),
        ({"image_size": 100000}, "image size must be"),
        ({"extra": 1}, "shards[0]"),
    ):
        record = train_record()
        record["parts"][0]["shards"][0] |= changes
        refused(record, field)
    record = train_record()
    record["parts"][0]["shards"] = "not a list"
    refused(record, "parts[0].shards")


def test_options_must_parse_as_typed_options():
    refused(train_record(options=options() | {"image_size": 10**9}), "options")
    refused(train_record(options=options() | {"command": "rm"}), "options")
    refused(train_record(options="sgd"), "options")
    record = compare_record("sgd")
    record["runs"][0]["options"]["learning_rate"] = -1
    refused(record, "runs[0].options")


def test_partial_options_are_filled_in_with_their_defaults():
    given = {"labels": ["cat", "dog"], "image_size": 8}
    assert load(train_record(options=given)).options["layout"] == "names"


def test_artifact_keys_must_be_this_jobs():
    refused(predict_record(model_key=artifact_key("20261129-202606-ffffff", "x")), "model_key")
    refused(predict_record(model_name="../model.keras"), "model_name")


def test_parts_must_fit_the_kind():
    record = train_record()
    record["parts"][0]["role"] = "predict"
    refused(record, "parts")
    record = train_record()
    record["parts"][0]["listing"]["rejected"] = "all"
    refused(record, "listing")


def test_anything_else_than_a_record_is_refused():
    refused("not json", "JSON")
    refused("[1, 2]", "JSON object")
    refused(train_record(extra=1), "extra")
    refused(train_record(upload="yes"), "upload")


def test_a_long_value_is_shown_truncated():
    message = refused(train_record(job_id="x" * 10_000), "job_id")
    assert "x" * 100 not in message


def test_a_decode_summary_must_be_its_shards():
    spec = shard()
    summary = {
        "key": SHARD_KEY, "index": 0, "images": 2, "used": 1, "bytes": 192, "reused": False,
        "rejected": [{"path": "dog.1.jpg", "reason": "empty file"}],
    }  # fmt: skip
    assert checked_summary(summary, spec) == summary
    for changes in (
        {"key": "catdog:shard:" + "cd" * 32},
        {"rejected": [{"path": "/etc/passwd", "reason": "x"}]},
        {"bytes": "many"},
        {"extra": 1},
    ):
        with pytest.raises(ResultRejected):
            checked_summary(summary | changes, spec)
    with pytest.raises(ResultRejected):
        checked_summary(None, spec)
