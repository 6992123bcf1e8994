"""A CNN trained briefly with its defaults still works at inference.

A user's 1,600 images (about 250 steps at the defaults) gave a model that
called every image the same label: batch normalisation's moving statistics,
which inference uses, had not forgotten their starting values (mean 0,
variance 1) by the end of training, while training itself used each batch's
own statistics and looked fine.
"""

import keras
import numpy as np
import pytest

from catdog_queue.shared.options import TrainingOptions
from catdog_queue.training.fit import train_and_evaluate
from catdog_queue.training.models import batch_norm_momentum
from tests.shard_source import shard_source

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")

KERAS_MOMENTUM = 0.99


def low_contrast_images(count: int, size: int):
    """Photographs' statistics at small sizes: grey noise, a faintly brighter centre for dogs."""
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 2
    pixels = rng.normal(120, 12, (count, size, size, 3))
    border = size // 4
    pixels[labels == 1, border:-border, border:-border, :] += 25
    paths = [f"{'dog' if label else 'cat'}/{number}.png" for number, label in enumerate(labels)]
    return np.clip(pixels, 0, 255).astype(np.uint8), paths


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """The CNN as its defaults build it (Adam, cosine schedule), 20 steps in all."""
    output_dir = tmp_path_factory.mktemp("short")
    pixels, paths = low_contrast_images(96, 16)
    options = TrainingOptions.for_model(
        ["cat", "dog"], "cnn", layout="folders", image_size=16, epochs=4, batch_size=16
    )
    catalogue, fetch, _ = shard_source(pixels, paths, 1000)
    metrics = train_and_evaluate(catalogue, fetch, options, str(output_dir))
    model = keras.saving.load_model(output_dir / "model.keras")
    return {"metrics": metrics, "model": model, "pixels": pixels}


def test_a_short_cnn_run_predicts_both_labels_at_inference(short_run):
    metrics = short_run["metrics"]
    predicted_per_label = np.array(metrics["confusion_matrix"]).sum(axis=0)

    assert predicted_per_label.min() > 0, metrics["confusion_matrix"]
    assert metrics["train_accuracy"] >= 0.9  # inference mode, on the images it trained on
    assert metrics["test_accuracy"] >= 0.8


def test_moving_statistics_describe_the_images_at_the_end_of_a_short_run(short_run):
    model, pixels = short_run["model"], short_run["pixels"]
    convolved = keras.Model(model.input, model.get_layer("conv1").output).predict(pixels, verbose=0)
    variance = convolved.var(axis=(0, 1, 2))
    moving = model.get_layer("norm1").moving_variance.numpy()

    assert np.median(moving / variance) == pytest.approx(1.0, abs=0.5)


def test_batch_norm_momentum_is_keras_s_for_long_runs_and_lower_for_short_ones():
    # The 10,000-image default run (7,500 training images, batch 128, 25 epochs)
    # has 1,475 steps: its model is the one it always was.
    assert batch_norm_momentum(59 * 25) == KERAS_MOMENTUM
    assert batch_norm_momentum(None) == KERAS_MOMENTUM
    for steps in (1, 2, 10, 50, 250, 999):
        momentum = batch_norm_momentum(steps)
        assert 0.0 <= momentum < KERAS_MOMENTUM
        # What is left of the starting values by the end: negligible.
        assert momentum**steps <= 1e-4 or steps < 20
    assert batch_norm_momentum(250) > batch_norm_momentum(50)


def test_batch_norm_momentum_refuses_a_step_count_below_one():
    with pytest.raises(ValueError, match="received 0"):
        batch_norm_momentum(0)
