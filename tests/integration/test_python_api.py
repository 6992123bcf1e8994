"""The Python API (``catdog_queue``) on an embedded cluster: real Redis, real Celery workers."""

import os

import numpy as np
import pytest

import catdog_queue
from catdog_queue.jobs import kinds
from catdog_queue.shared.waiting import wait_until
from tests.images import make_separable_images

pytestmark = pytest.mark.integration

TINY = {"image_size": 8, "shard_size": 15, "batch_size": 8}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    with catdog_queue.start(cache_dir=folder / "cache", data_roots=[folder]) as cluster:
        yield cluster, folder


def test_the_cluster_names_itself_in_the_environment_only_while_open(tmp_path):
    before = os.environ.get("CELERY_BROKER_URL")
    with catdog_queue.start(cache_dir=tmp_path / "cache", data_roots=[tmp_path]) as cluster:
        assert cluster.embedded
        assert os.environ["CELERY_BROKER_URL"] == cluster.session.cluster.url()
    assert os.environ.get("CELERY_BROKER_URL") == before
    with pytest.raises(ValueError, match="no open cluster"):
        catdog_queue.train(tmp_path, epochs=1)


def wait_for_phase(job, phases: set, bound_s: float = 300.0) -> dict:
    """Poll the job's status until its phase is one of ``phases``; the bound only stops a hang."""
    seen = []

    def reached() -> bool:
        seen.append(job.status())
        return seen[-1]["phase"] in phases

    wait_until(reached, timeout_s=bound_s, interval_s=0.2)
    return seen[-1]


def test_train_gives_metrics_history_a_model_and_predictions(embedded):
    folder = embedded[1]
    make_separable_images(folder / "train", per_label=20)
    make_separable_images(folder / "unseen", per_label=3, seed=7)
    job = catdog_queue.train(
        folder / "train", epochs=8, predict=folder / "unseen", out=folder / "out", **TINY
    )
    assert job.kind == "train" and job.job_id in repr(job)
    assert job.wait() is job
    assert job.status()["phase"] == "done"
    assert job.metrics["labels"] == ["cat", "dog"]
    assert job.metrics["images_used"] == 40 and job.metrics["epochs_run"] == 8
    assert job.metrics["test_accuracy"] >= 0.9
    assert set(job.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(job.history["loss"]) == 8
    model = job.model()
    red = np.full((1, 8, 8, 3), (200, 60, 60), dtype=np.uint8)
    blue = np.full((1, 8, 8, 3), (60, 60, 200), dtype=np.uint8)
    probabilities = model.predict(np.concatenate([red, blue]), verbose=0)
    assert probabilities.shape == (2, 2)
    assert np.argmax(probabilities, axis=1).tolist() == [0, 1]  # cat, dog
    rows = job.predictions
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert sorted(row["id"] for row in rows) == sorted(
        f"{label}.{number}" for label in ("cat", "dog") for number in range(3)
    )
    # label: the probability of the last label, dog
    assert all((row["label"] > 0.5) == row["id"].startswith("dog") for row in rows)
    assert (folder / "out" / "model.keras").is_file()


def test_predict_takes_a_train_jobs_handle(embedded):
    folder = embedded[1]
    make_separable_images(folder / "train-2", per_label=20, seed=3)
    make_separable_images(folder / "to-classify", per_label=2, seed=9)
    trained = catdog_queue.train(folder / "train-2", epochs=8, **TINY, out=folder / "out-2")
    job = catdog_queue.predict(trained, folder / "to-classify", out=folder / "p.csv")
    rows = job.wait().predictions
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert len(rows) == 4 and job.metrics["rows"] == 4
    assert job.metrics["accuracy"] >= 0.75  # against the file names: cat.N, dog.N


def test_cancel_stops_a_running_training(embedded):
    cluster, folder = embedded
    make_separable_images(folder / "long", per_label=20, seed=5)
    # Far more epochs than it could run in a test: only the cancel ends this job.
    job = catdog_queue.train(folder / "long", epochs=100_000, out=folder / "out-long", **TINY)
    assert wait_for_phase(job, {"training", "failed", "done"})["phase"] == "training"
    job.cancel()
    assert job.status()["phase"] == "cancelled"
    # wait() returns once the gpu worker has stopped the training task itself.
    with pytest.raises(catdog_queue.JobFailed, match="cancel"):
        job.wait()
    (training_id,) = kinds.followed_tasks(job.record).values()
    assert cluster.session.app.AsyncResult(training_id).state in ("FAILURE", "REVOKED")


def test_keywords_are_checked_as_the_command_line_checks_them(embedded):
    folder = embedded[1]
    with pytest.raises(ValueError, match=r"epochs=0.*at least 1, received 0"):
        catdog_queue.train(folder, epochs=0)
    with pytest.raises(ValueError, match="unrecognized arguments: --colour"):
        catdog_queue.train(folder, colour="red")
    with pytest.raises(ValueError, match="received broker"):
        catdog_queue.train(folder, broker="redis://elsewhere")
    with pytest.raises(ValueError, match="already open"):
        catdog_queue.start(cache_dir=folder / "other")


def test_compare_gives_each_runs_metrics_history_and_model(embedded):
    folder = embedded[1]
    make_separable_images(folder / "compare", per_label=12, seed=11)
    job = catdog_queue.compare(
        folder / "compare", optimizers=["sgd", "adam"], epochs=2, out=folder / "out-compare", **TINY
    )
    job.wait()
    assert set(job.metrics) == {"sgd", "adam"}
    assert {row["state"] for row in job.metrics.values()} == {"succeeded"}
    assert [len(history["loss"]) for history in job.history.values()] == [2, 2]
    assert job.model(run="adam").output_shape == (None, 2)
    with pytest.raises(ValueError, match=r"one of \['sgd', 'adam'\], received 'rmsprop'"):
        job.model(run="rmsprop")
