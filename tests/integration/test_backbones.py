"""Pretrained backbones through real workers: random weights, a weights file, no network."""

import json

import numpy as np
import pytest

from tests.images import make_separable_images
from tests.integration.conftest import clean_environment, run_submit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy"),
]


def backbone_arguments(data, out, *extra):
    return ["train", "--data", data, "--out", out, "--model", "mobilenet_v2", "--image-size", 32,
            "--epochs", 2, "--batch-size", 16, "--shard-size", 30, *extra]  # fmt: skip


def test_mobilenet_without_pretrained_weights_trains_saves_and_predicts(
    submit_to_cluster, tmp_path
):
    make_separable_images(tmp_path / "data", per_label=30, side=40)
    arguments = backbone_arguments(tmp_path / "data", tmp_path / "out", "--weights", "none")
    process, metrics = submit_to_cluster([*arguments, "--predict", tmp_path / "data"])
    assert process.returncode == 0, process.stderr
    assert metrics["model"] == "mobilenet_v2" and metrics["weights"] == "none"
    assert (metrics["optimizer"], metrics["image_size"], metrics["fine_tune"]) == ("adam", 32, 0)
    assert metrics["test_images"] == 16 and len(metrics["history"]) == 2
    # The worker predicted with the saved model, loaded in safe mode.
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "id,label" and len(rows) == 61


def test_weights_from_a_file_travel_through_redis_and_stay_frozen(submit_to_cluster, tmp_path):
    import keras

    make_separable_images(tmp_path / "data", per_label=20, side=40)
    keras.utils.set_random_seed(7)
    pretrained = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    pretrained.save_weights(tmp_path / "pretrained.weights.h5")
    arguments = backbone_arguments(
        tmp_path / "data", tmp_path / "out", "--weights", tmp_path / "pretrained.weights.h5"
    )
    process, metrics = submit_to_cluster(arguments)
    assert process.returncode == 0, process.stderr
    assert metrics["weights"].startswith("sha256:") and metrics["weights"].endswith(".weights.h5")
    model = keras.saving.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    for trained, original in zip(backbone.weights, pretrained.weights):
        np.testing.assert_array_equal(trained.numpy(), original.numpy())  # frozen: untouched


def test_a_weights_path_that_is_not_a_weights_file_is_a_usage_error(cluster, tmp_path):
    (tmp_path / "notes.h5").write_text("not hdf5")
    make_separable_images(tmp_path / "data", per_label=5)
    process = run_submit(
        backbone_arguments(tmp_path / "data", tmp_path / "out", "--weights", tmp_path / "notes.h5"),
        clean_environment() | cluster.environment(),
    )
    assert process.returncode == 2
    assert "not an HDF5 weights file" in process.stderr and "Traceback" not in process.stderr


def test_imagenet_weights_without_network_fail_in_one_line_saying_what_to_pass(tmp_path):
    """Its own embedded cluster, whose gpu worker cannot reach the download server."""
    make_separable_images(tmp_path / "data", per_label=5, side=40)
    unreachable = "http://127.0.0.1:9"  # the discard port: nothing listens
    environment = clean_environment() | {
        "HTTPS_PROXY": unreachable, "HTTP_PROXY": unreachable, "https_proxy": unreachable,
        "http_proxy": unreachable, "KERAS_HOME": str(tmp_path / "keras-home"),
    }  # fmt: skip
    arguments = backbone_arguments(tmp_path / "data", tmp_path / "out", "--weights", "imagenet")
    process = run_submit([*arguments, "--cache-dir", tmp_path / "cache"], environment)
    assert process.returncode == 1, process.stderr
    (error,) = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert "cannot download the ImageNet weights of mobilenet_v2" in error
    assert "--weights PATH" in error and "--weights none" in error
    assert "Traceback" not in process.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()
    json.dumps(error)  # one printable line
