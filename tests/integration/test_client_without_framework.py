"""A client with no deep-learning framework: submits, follows and collects on a standing cluster.

``pip install catdog-queue`` pulls no TensorFlow, Keras, JAX or PyTorch
(setup.py; the wheel's metadata is checked in test_packaging). Here the
client runs with all four made unimportable (``sys.modules[name] = None`` in a
``sitecustomize`` of its own), as on a laptop with the plain install: a train
job on the standing cluster, and predict with the model it fetched, must still
work; a local cluster, which would train on this machine, must refuse to start
and say what to install.
"""

import csv
import subprocess
import sys

import pytest

from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = pytest.mark.integration

FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")


@pytest.fixture
def without_frameworks(tmp_path) -> dict:
    """Environment variables under which the frameworks cannot be imported."""
    folder = tmp_path / "no-frameworks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import sys\nfor name in {FRAMEWORKS!r}:\n    sys.modules[name] = None\n"
    )
    return {"PYTHONPATH": str(folder)}


def test_the_frameworks_are_unimportable_under_the_blocker(without_frameworks):
    probe = subprocess.run(
        [sys.executable, "-c", "import keras"],
        env=clean_environment() | without_frameworks, capture_output=True, text=True,
    )  # fmt: skip
    assert probe.returncode != 0
    assert "ModuleNotFoundError" in probe.stderr or "ImportError" in probe.stderr


def test_a_client_without_frameworks_trains_and_predicts_on_a_standing_cluster(
    cluster, without_frameworks, tmp_path
):
    make_separable_images(tmp_path / "data", per_label=20, side=16)
    environment = clean_environment() | cluster.environment() | without_frameworks
    trained = run_submit(
        ["train", "--data", tmp_path / "data", "--out", tmp_path / "out", "--image-size", 8,
         "--epochs", 3],
        environment,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "out" / "model.keras").is_file()
    assert (tmp_path / "out" / "metrics.json").is_file()
    predicted = run_submit(
        ["predict", "--model", tmp_path / "out" / "model.keras", "--data", tmp_path / "data",
         "--out", tmp_path / "predictions.csv"],
        environment,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    with open(tmp_path / "predictions.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 40


def test_without_keras_a_local_cluster_says_what_to_install(without_frameworks, tmp_path):
    make_separable_images(tmp_path / "data", per_label=4, side=16)
    refused = run_submit(
        ["train", "--data", tmp_path / "data", "--out", tmp_path / "out",
         "--cache-dir", tmp_path / "cache"],
        clean_environment() | without_frameworks, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "lacks keras and tensorflow" in refused.stderr, refused.stderr
    assert "pip install 'catdog-queue[tensorflow]'" in refused.stderr
    assert not (tmp_path / "out" / "model.keras").exists()
