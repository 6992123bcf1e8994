"""``train``, ``compare`` and ``predict``: send a job as ``submit.py`` does, return its handle.

Planning (``planned_train``, ``planned_compare``, ``planned_predict``) and
sending (``send_planned_job``) are written once, here: ``submit.py``'s
train, compare and predict call the same functions, connecting in between
with the job's id (``client.commands.submit_job``), and follow with the same
``Job.wait()``. Only following waits, so a notebook cell returns at once.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from catdog_queue.arguments import command_arguments
from catdog_queue.cluster import current_cluster
from catdog_queue.job import Job


def train(data, *, predict=None, out=None, cluster=None, **options) -> Job:
    """Train on ``data`` (a folder of ``cat.1.jpg``-style images, or ``cat/``, ``dog/``
    subfolders); ``predict=FOLDER`` then classifies FOLDER with the new model.

    ``options`` are ``submit.py train``'s: ``epochs=3``, ``image_size=32``,
    ``model="cnn"``, ``optimizer="adam"``, ``batch_size=16``...
    """
    cluster = current_cluster(cluster)
    arguments = command_arguments("train", data=data, predict=predict, out=out, **options)
    return send_planned_job(cluster, planned_train(arguments))


def compare(data, *, out=None, cluster=None, **options) -> Job:
    """Train one model per optimizer (``optimizers=["sgd", "adam"]``) and compare them."""
    cluster = current_cluster(cluster)
    arguments = command_arguments("compare", data=data, out=out, **options)
    return send_planned_job(cluster, planned_compare(arguments))


def predict(model, data, *, out=None, cluster=None, **options) -> Job:
    """Classify the images in ``data`` with ``model``: a ``model.keras`` or ``model.h5`` file,
    or a finished train job's handle. ``out`` names the CSV (default
    ``runs/<job id>/predictions.csv``)."""
    cluster = current_cluster(cluster)
    model = _model_path(model)
    arguments = command_arguments("predict", model=model, data=data, out=out, **options)
    # The parser's default (predictions.csv in the current folder) is the command line's;
    # a notebook's runs keep each job's results apart, as train's do.
    arguments.out = out
    return send_planned_job(cluster, planned_predict(arguments))


@dataclass
class PlannedJob:
    """A job listed, sharded and checked, not sent yet: ``send_planned_job`` sends it."""

    arguments: object  # the argparse.Namespace of the command (or of the API's keywords)
    record: object  # its JobRecord
    collector: object  # the kind's command module: output_path, log_dir, collect_results, report
    timings: dict
    started: float
    prepare: object = None  # prepare(session, record): runs once connected, before sending
    out: Path = field(init=False)

    def __post_init__(self):
        from catdog_queue.client.flow import require_writable

        self.out = self.collector.output_path(self.arguments.out, self.record.job_id)
        # Checked before the cluster starts and the job's hours of work, not after them.
        require_writable(self.out.parent if self.out.suffix else self.out)


def planned_train(arguments) -> PlannedJob:
    """Plan a train job: ``train()`` and ``submit.py train`` alike."""
    from catdog_queue.client.commands import train as train_command

    return _planned_training(arguments, train_command, train_command.plan_train)


def planned_compare(arguments) -> PlannedJob:
    """Plan a compare job: ``compare()`` and ``submit.py compare`` alike."""
    from catdog_queue.client.commands import compare as compare_command

    return _planned_training(arguments, compare_command, compare_command.plan_compare)


def _planned_training(arguments, command, plan) -> PlannedJob:
    """A training job (train or compare) planned by ``plan``; ``--weights PATH`` uploaded."""
    from catdog_queue.client.commands.common import upload_weights

    started = time.perf_counter()
    record = plan(arguments)
    timings = {"list_s": time.perf_counter() - started}
    return PlannedJob(arguments, record, command, timings, started, upload_weights(arguments))


def planned_predict(arguments) -> PlannedJob:
    """Plan a predict job: ``predict()`` and ``submit.py predict`` alike."""
    from catdog_queue.client.commands import predict as predict_command

    started = time.perf_counter()
    record, model_bytes = predict_command.plan_predict(arguments)
    timings = {"list_s": time.perf_counter() - started}
    prepare = predict_command.model_uploader(model_bytes)
    return PlannedJob(arguments, record, predict_command, timings, started, prepare)


def _model_path(model) -> str:
    if isinstance(model, Job):
        if model.kind != "train":
            raise ValueError(
                f"predict(model=...) takes a train job's handle, received a {model.kind} job"
                f" ({model.job_id}); for a compare run pass its folder's model.keras"
            )
        return str(model.wait().out / "model.keras")
    if not isinstance(model, (str, Path)) or not Path(model).is_file():
        raise ValueError(
            f"predict(model=...) takes a model.keras or model.h5 file, or a train job's"
            f" handle; received {model!r}"
        )
    return str(model)


def send_planned_job(cluster, planned: PlannedJob) -> Job:
    """Send ``planned`` on ``cluster`` (anything with a connected ``.session``); its handle."""
    from catdog_queue.client.flow import send_job

    send_job(cluster.session, planned.arguments, planned.record, planned.prepare)
    return Job(
        cluster, planned.record, planned.collector, planned.out, planned.timings, planned.started
    )
