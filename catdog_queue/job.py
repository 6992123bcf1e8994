"""A handle on one submitted job: wait for it, ask its status, cancel it, read its results.

Following and collecting are the command line's own (``client.flow.follow``
and each kind's ``collect_results``), and ``submit.py`` train, compare and
predict follow their jobs through this same handle: a job waited for here
leaves the same files in its output folder as ``submit.py`` would.
"""

import csv
from contextlib import ExitStack
from pathlib import Path

from catdog_queue.progress import NotebookProgress


class Job:
    """A train, compare or predict job on a cluster; results once ``wait()`` returns."""

    def __init__(self, cluster, record, collector, out: Path, timings: dict, started: float):
        self.cluster = cluster
        self.record = record
        self.out = out  # the output folder (a CSV's path for a predict job)
        self._collector = collector
        self._timings = timings
        self._started = started
        self.collected = None  # what the kind's collect_results returned, once waited for

    @property
    def job_id(self) -> str:
        return self.record.job_id

    @property
    def kind(self) -> str:
        return self.record.kind

    def __repr__(self) -> str:
        done = "collected" if self.collected is not None else "not waited for"
        return f"<{self.kind} job {self.job_id}, {done}, results in {self.out}>"

    def wait(self, progress_class=NotebookProgress) -> "Job":
        """Follow the job to its end with progress bars; its files go into ``self.out``.

        Raises ``JobFailed`` (``catdog_queue.JobFailed``) if it failed or was cancelled.
        ``progress_class`` draws the bars: widgets in Jupyter by default; ``submit.py``
        passes the terminal's own (``client.progress.JobProgress``).
        """
        if self.collected is None:
            session = self.cluster.session
            with ExitStack() as stack:
                followed = _follow(session, stack, self.record, self._timings, progress_class)
                self.collected = self._collector.collect_results(
                    session, self.record, followed, self.out, self._timings, self._started
                )
        return self

    def status(self) -> dict:
        """What ``submit.py status`` prints: ``phase`` (queued, decoding, training, predicting,
        done, failed, cancelled), ``shards``, and ``detail`` or ``result``."""
        from catdog_queue.client.follow import release_results
        from catdog_queue.client.job_status import job_status
        from catdog_queue.jobs import kinds

        session = self.cluster.session
        try:
            return job_status(session, self.record)
        finally:
            release_results(session.app, kinds.all_task_ids(self.record))

    def cancel(self) -> None:
        """Queued tasks never start; a running training stops within about a second."""
        from catdog_queue.client.commands.control import cancel_job

        cancel_job(self.cluster.session, self.record)

    @property
    def metrics(self) -> dict:
        """``metrics.json`` of a train job; for compare, ``{run name: its row}``."""
        collected = self.wait().collected
        if self.kind == "train":
            return collected["metrics"]
        if self.kind == "compare":
            return {row["name"]: row for row in collected["table"]}
        return {name: value for name, value in collected.items() if name != "last_label"}

    @property
    def history(self) -> dict:
        """Per-epoch figures as Keras' ``History.history``: ``{"loss": [...], ...}``.

        For compare, ``{run name: that dict}`` for each run that succeeded.
        """
        if self.kind == "train":
            return keras_history(self.metrics["history"])
        if self.kind == "compare":
            return {
                name: keras_history(row["history"])
                for name, row in self.metrics.items()
                if row["state"] == "succeeded"
            }
        raise ValueError(f"job {self.job_id} is a predict job: it trained nothing, no history")

    def model(self, run: str | None = None):
        """The trained model, loaded by Keras (``run``: which one of a compare job)."""
        self.wait()
        if self.kind == "predict":
            raise ValueError(f"job {self.job_id} is a predict job; load its input model instead")
        folder = self.out
        if self.kind == "compare":
            names = list(self.history)
            if run not in names:
                raise ValueError(
                    f"model(run=...) of a compare job: one of {names}, received {run!r}"
                )
            folder = self.out / run
        import keras  # only here: importing Keras takes seconds, and most calls need none

        return keras.saving.load_model(folder / "model.keras")

    @property
    def predictions(self):
        """One row per image, ``id`` and ``label`` (the probability of the last label), as in
        the CSV; a pandas DataFrame where pandas is installed, else a list of dicts."""
        self.wait()
        path = self.out if self.kind == "predict" else self.out / "predictions.csv"
        if not path.is_file():
            raise ValueError(
                f"job {self.job_id} made no predictions; pass predict=FOLDER to train()"
            )
        with path.open(newline="", encoding="utf-8") as file:
            rows = [{"id": row["id"], "label": float(row["label"])} for row in csv.DictReader(file)]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows, columns=["id", "label"])


def keras_history(epochs: list[dict]) -> dict:
    """``[{"loss": 0.7, ...}, ...]`` (one dict per epoch) as ``{"loss": [0.7, ...], ...}``."""
    names = list(dict.fromkeys(name for epoch in epochs for name in epoch))
    return {name: [epoch.get(name) for epoch in epochs] for name in names}


def _follow(session, stack, record, timings, progress_class):
    from catdog_queue.client.flow import follow

    return follow(session, stack, record, timings, progress_class=progress_class)
