"""``submit.py train|compare|predict`` run through the Python API's own objects.

The command line plans with ``catdog_queue.launch``'s ``planned_*``, sends with
``send_planned_job`` and follows with the ``Job`` handle's ``wait``, passing the
terminal's progress bars. No broker here: connecting, sending and following are
stood in for; listing and planning are real.
"""

import inspect
from types import SimpleNamespace

import pytest

from catdog_queue import cluster as cluster_module
from catdog_queue import launch
from catdog_queue.client import flow
from catdog_queue.client.arguments import build_parser
from catdog_queue.client.commands import compare, predict, submit_job, train
from catdog_queue.client.progress import JobProgress
from catdog_queue.job import Job
from catdog_queue.progress import NotebookProgress

BROKER = "redis://127.0.0.1:1/0"  # never reached: connect is stood in for
REAL_WAIT = Job.wait  # before the fixture stands in for it


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for label in ("cat", "dog"):
        for number in range(3):
            (folder / f"{label}.{number}.jpg").write_bytes(b"listed, never decoded here")
    return folder


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    """A model file whose metadata is stood in for: making a real one needs Keras."""
    path = tmp_path / "model.keras"
    path.write_bytes(b"model bytes")
    metadata = {"labels": ["cat", "dog"], "image_size": 32}
    monkeypatch.setattr(predict, "read_metadata", lambda model: metadata)
    return path


@pytest.fixture
def seen(monkeypatch):
    """What the command did: connected, sent, waited (with which progress), reported."""
    seen = {}
    session = SimpleNamespace(timings={"cluster_start_s": 0.25}, cluster=None)
    session.start_workers = lambda roots: seen.setdefault("roots", roots)

    def connect(args, name, log_dir, stack):
        seen["connected"] = {"name": name, "log_dir": log_dir}
        return session

    def send_job(sent_on, args, record, prepare=None):
        seen["sent"] = {"session": sent_on, "record": record}

    def wait(job, progress_class=None):  # None: the caller left Job.wait's own default
        seen["waited"] = {"job": job, "progress_class": progress_class}
        job.collected = {"stood in": "collect_results"}
        return job

    def report(collected, out):
        seen["reported"] = {"collected": collected, "out": out}
        return 0

    monkeypatch.setattr(submit_job, "connect", connect)
    monkeypatch.setattr(flow, "send_job", send_job)
    monkeypatch.setattr(Job, "wait", wait)
    for command in (train, compare, predict):
        monkeypatch.setattr(command, "report", report)
    seen["session"] = session
    return seen


def command_line(tmp_path, images, model_file, kind, *more):
    words = {
        "train": ["train", "--data", str(images), "--out", str(tmp_path / "out")],
        "compare": ["compare", "--data", str(images), "--out", str(tmp_path / "out")],
        "predict": [
            "predict", "--model", str(model_file), "--data", str(images),
            "--out", str(tmp_path / "out" / "predictions.csv"),
        ],
    }[kind]  # fmt: skip
    return build_parser().parse_args([*words, "--broker", BROKER, *more])


@pytest.mark.parametrize("kind", ["train", "compare", "predict"])
def test_the_command_follows_its_job_with_the_api_handle_and_terminal_bars(
    kind, tmp_path, images, model_file, seen
):
    args = command_line(tmp_path, images, model_file, kind)
    run = {"train": train.run_train, "compare": compare.run_compare}.get(kind, predict.run_predict)
    assert run(args) == 0
    job = seen["waited"]["job"]
    assert isinstance(job, Job) and job.kind == kind
    assert seen["waited"]["progress_class"] is JobProgress  # the terminal's output, unchanged
    assert job.cluster.session is seen["session"] is seen["sent"]["session"]
    assert job.record is seen["sent"]["record"]
    assert seen["connected"]["name"] == job.job_id  # connected once the job was planned
    assert seen["roots"] == [str(images.resolve())]
    assert seen["reported"] == {"collected": job.collected, "out": job.out}
    assert job._timings.keys() >= {"list_s", "cluster_start_s"}
    expected_out = tmp_path / "out" / ("predictions.csv" if kind == "predict" else "")
    assert job.out == expected_out


def test_detach_sends_the_job_and_follows_nothing(tmp_path, images, model_file, seen, capsys):
    args = command_line(tmp_path, images, model_file, "train", "--detach")
    assert train.run_train(args) == 0
    job_id = seen["sent"]["record"].job_id
    assert "waited" not in seen and "reported" not in seen
    assert capsys.readouterr().out.startswith(f"job {job_id} submitted\n")


def test_the_api_sends_the_same_planned_job_and_waits_with_notebook_bars(
    tmp_path, images, model_file, seen, monkeypatch
):
    args = command_line(tmp_path, images, model_file, "train", "--epochs", "2")
    train.run_train(args)
    from_command_line = seen["sent"]["record"]
    api_cluster = SimpleNamespace(session=seen["session"])
    monkeypatch.setattr(cluster_module, "_open_cluster", api_cluster)
    job = launch.train(images, out=tmp_path / "api", epochs=2).wait()
    assert seen["sent"]["record"] is job.record and job.cluster is api_cluster
    assert job.record.options == from_command_line.options
    assert seen["waited"]["progress_class"] is None
    assert inspect.signature(REAL_WAIT).parameters["progress_class"].default is NotebookProgress
