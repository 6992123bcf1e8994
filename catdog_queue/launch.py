"""``train``, ``compare`` and ``predict``: send a job as ``submit.py`` does, return its handle.

Each reads its keywords with the command line's parser, plans the job with
the command's own ``plan_*`` function and sends it with ``client.flow.send_job``;
only following waits for ``Job.wait()``, so a notebook cell returns at once.
"""

import time
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
    from catdog_queue.client.commands import train as train_command
    from catdog_queue.client.commands.common import upload_weights

    cluster = current_cluster(cluster)
    started = time.perf_counter()
    arguments = command_arguments("train", data=data, predict=predict, out=out, **options)
    record = train_command.plan_train(arguments)
    timings = {"list_s": time.perf_counter() - started}
    prepare = upload_weights(arguments)
    return send_planned_job(cluster, arguments, record, train_command, timings, started, prepare)


def compare(data, *, out=None, cluster=None, **options) -> Job:
    """Train one model per optimizer (``optimizers=["sgd", "adam"]``) and compare them."""
    from catdog_queue.client.commands import compare as compare_command
    from catdog_queue.client.commands.common import upload_weights

    cluster = current_cluster(cluster)
    started = time.perf_counter()
    arguments = command_arguments("compare", data=data, out=out, **options)
    record = compare_command.plan_compare(arguments)
    timings = {"list_s": time.perf_counter() - started}
    prepare = upload_weights(arguments)
    return send_planned_job(cluster, arguments, record, compare_command, timings, started, prepare)


def predict(model, data, *, out=None, cluster=None, **options) -> Job:
    """Classify the images in ``data`` with ``model``: a ``model.keras`` or ``model.h5`` file,
    or a finished train job's handle. ``out`` names the CSV (default
    ``runs/<job id>/predictions.csv``)."""
    from catdog_queue.client.commands import predict as predict_command

    cluster = current_cluster(cluster)
    model = _model_path(model)
    started = time.perf_counter()
    arguments = command_arguments("predict", model=model, data=data, out=out, **options)
    # The parser's default (predictions.csv in the current folder) is the command line's;
    # a notebook's runs keep each job's results apart, as train's do.
    arguments.out = out
    record, model_bytes = predict_command.plan_predict(arguments)
    timings = {"list_s": time.perf_counter() - started}
    prepare = predict_command.model_uploader(model_bytes)
    return send_planned_job(cluster, arguments, record, predict_command, timings, started, prepare)


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


def send_planned_job(cluster, arguments, record, collector, timings, started, prepare) -> Job:
    """Send a planned job (``record``) on ``cluster`` and return its handle."""
    from catdog_queue.client.flow import require_writable, send_job

    out = collector.output_path(arguments.out, record.job_id)
    require_writable(out.parent if out.suffix else out)  # before the work, not after
    send_job(cluster.session, arguments, record, prepare)
    return Job(cluster, record, collector, out, timings, started)
