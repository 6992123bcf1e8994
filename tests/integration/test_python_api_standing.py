"""The Python API on a standing cluster (the session's), reached by its broker URL."""

import pytest

import catdog_queue
from tests.images import make_separable_images

pytestmark = pytest.mark.integration


def test_connect_runs_a_job_on_a_standing_cluster(cluster, tmp_path):
    make_separable_images(tmp_path / "data", per_label=10, seed=2)
    with catdog_queue.connect(cluster.url()) as connected:
        assert not connected.embedded
        assert str(cluster.port) in repr(connected) and "redis://" in repr(connected)
        job = catdog_queue.train(
            tmp_path / "data", epochs=2, image_size=8, batch_size=8, out=tmp_path / "out"
        )
        assert job.wait().status()["phase"] == "done"
        assert job.metrics["images_used"] == 20 and job.metrics["epochs_run"] == 2


def test_connect_refuses_what_is_not_a_broker_url():
    with pytest.raises(ValueError, match=r"received 'localhost:6379'"):
        catdog_queue.connect("localhost:6379")
