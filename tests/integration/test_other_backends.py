"""The jobs on a gpu worker that runs Keras on JAX or on PyTorch: a standing cluster started
with ``submit.py cluster --backend jax`` (then ``torch``), real Redis and Celery workers, small
MLP and CNN train and predict jobs, and the backend each job reports."""

import json

import pytest

from tests.images import make_separable_images
from tests.integration.test_standing_cluster import cluster_command, submit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["jax", "torch"])
def backend_cluster(request, tmp_path_factory):
    backend = request.param
    pytest.importorskip(backend, reason=f"{backend} is not installed (requirements-dev.txt has it)")
    with cluster_command(tmp_path_factory.mktemp(backend), "--backend", backend) as running:
        yield backend, running


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_train_and_predict_on_a_gpu_worker_of_another_backend(
    backend_cluster, model_name, tmp_path
):
    backend, (broker, data_root, _) = backend_cluster
    make_separable_images(data_root / "small", per_label=15)
    trained = submit(broker, "train", "--data", data_root / "small", "--model", model_name,
                     "--image-size", 16, "--epochs", 2, "--out", tmp_path / "train")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert metrics["backend"] == backend
    assert metrics["device"].startswith("CPU: ")
    assert metrics["jit_compile"] is (backend == "jax")  # PyTorch runs eagerly
    assert len(metrics["history"]) == 2 and metrics["train_images"] + metrics["test_images"] == 30
    assert metrics["data_mode"] == "memory" and metrics["timings"]["input_wait_s"] is None

    model = tmp_path / "train" / "model.keras"
    predicted = submit(broker, "predict", "--model", model, "--data", data_root / "small",
                       "--out", tmp_path / "predictions.csv")  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0] == "id,label" and len(rows) == 31
    assert all(0.0 <= float(row.split(",")[1]) <= 1.0 for row in rows[1:])  # P(dog), as Kaggle's
