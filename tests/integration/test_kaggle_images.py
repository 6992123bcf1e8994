"""The tutorial's experiment on real Kaggle images, through the real cluster.

Runs when ``../shared/data/dogs-vs-cats/train`` is beside the repository. On a
truly disjoint split the tutorial's MLP (SGD, 20 epochs, 32 px) scores about
0.60-0.66; far above that means the held-out images leaked into training.
"""

import numpy as np
import pytest

from tests.inputs import unavailable
from tests.integration.conftest import SHARED_DATA

KAGGLE_TRAIN = SHARED_DATA / "dogs-vs-cats" / "train"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def kaggle_images_here():
    if not KAGGLE_TRAIN.is_dir():
        unavailable(f"{KAGGLE_TRAIN} is not here")


def test_tutorial_mlp_on_kaggle_images_scores_honestly(submit_to_cluster, tmp_path):
    process, metrics = submit_to_cluster(
        ["train", "--optimizer", "sgd", "--data", KAGGLE_TRAIN, "--out", tmp_path / "out"]
    )
    assert process.returncode == 0, process.stderr
    assert metrics["images_total"] == metrics["images_used"] == 10_000
    assert metrics["images_rejected"] == []
    assert (metrics["train_images"], metrics["test_images"]) == (7_500, 2_500)
    # Stratified: 1,250 cats and 1,250 dogs held out.
    assert np.sum(metrics["confusion_matrix"], axis=1).tolist() == [1_250, 1_250]
    assert metrics["epochs"] == 20 and metrics["image_size"] == 32
    assert 0.57 <= metrics["test_accuracy"] <= 0.72, metrics["test_accuracy"]
    assert metrics["shards"]["count"] == 10


def test_streamed_training_scores_within_a_point_of_training_in_memory(submit_to_cluster, tmp_path):
    arguments = ["train", "--optimizer", "sgd", "--data", KAGGLE_TRAIN, "--data-mode"]
    _, memory = submit_to_cluster([*arguments, "memory", "--out", tmp_path / "memory"])
    process, stream = submit_to_cluster([*arguments, "stream", "--out", tmp_path / "stream"])
    assert process.returncode == 0, process.stderr
    assert (memory["data_mode"], stream["data_mode"]) == ("memory", "stream")
    assert stream["test_set_sha256"] == memory["test_set_sha256"]  # the same held-out images
    assert abs(stream["test_accuracy"] - memory["test_accuracy"]) <= 0.01, (
        stream["test_accuracy"],
        memory["test_accuracy"],
    )
