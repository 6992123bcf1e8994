"""Pretrained backbones: raw uint8 in, preprocessing inside, frozen or fine-tuned, safe to load.

No network here: the models use random weights or a weights file saved in the test.
"""

import keras
import numpy as np
import pytest
from keras import layers

from catdog_queue.shared.options import MODEL_DEFAULTS, OptionsError, TrainingOptions
from catdog_queue.training.backbones import make_backbone_model, set_trainable_top, weights_error
from catdog_queue.training.prediction import load_model_safely

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    return make_backbone_model("mobilenet_v2", (32, 32, 3), 2)


def backbone_of(model):
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_backbone_model_takes_uint8_and_scales_to_what_the_backbone_expects(mobilenet):
    assert mobilenet.input.dtype == "uint8"
    assert mobilenet.output_shape == (None, 2)
    preprocess = mobilenet.get_layer("preprocess")
    scaled = keras.ops.convert_to_numpy(preprocess(np.array([[0, 255]], dtype=np.uint8)))
    np.testing.assert_allclose(scaled, [[-1.0, 1.0]], atol=1e-6)  # MobileNetV2's [-1, 1]
    kinds = {type(layer).__name__ for layer in mobilenet.layers}
    assert "Lambda" not in kinds and "TFOpLambda" not in kinds


def test_a_frozen_backbone_trains_the_classifier_only(mobilenet):
    trainable = {weight.path.split("/")[0] for weight in mobilenet.trainable_weights}
    assert trainable == {"probabilities"}
    assert backbone_of(mobilenet).count_params() > 2_000_000


def test_fine_tune_unfreezes_the_top_layers_but_never_batch_norm():
    backbone = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    set_trainable_top(backbone, 10)
    top = backbone.layers[-10:]
    assert all(layer.trainable != isinstance(layer, layers.BatchNormalization) for layer in top)
    assert not any(layer.trainable for layer in backbone.layers[:-10])
    assert any(layer.trainable and layer.weights for layer in top)


def test_saved_backbone_models_load_in_safe_mode_and_predict_the_same(mobilenet, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    expected = mobilenet.predict(pixels, verbose=0)
    for name in ("model.keras", "model.h5"):
        mobilenet.save(tmp_path / name)
        reloaded = load_model_safely(str(tmp_path / name))
        np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), expected, atol=1e-5)


def test_efficientnet_gets_0_to_255_floats_and_normalises_inside():
    model = make_backbone_model("efficientnet_b0", (32, 32, 3), 3)
    preprocess = model.get_layer("preprocess")
    cast = keras.ops.convert_to_numpy(preprocess(np.array([[0, 255]], dtype=np.uint8)))
    np.testing.assert_allclose(cast, [[0.0, 255.0]])
    assert {"Rescaling", "Normalization"} <= {
        type(layer).__name__ for layer in backbone_of(model).layers
    }
    probabilities = model.predict(np.zeros((2, 32, 32, 3), dtype=np.uint8), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_weights_from_a_local_file_are_the_backbones_starting_point(tmp_path):
    keras.utils.set_random_seed(1)
    saved = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    saved.save_weights(tmp_path / "backbone.weights.h5")
    keras.utils.set_random_seed(2)
    model = make_backbone_model(
        "mobilenet_v2", (32, 32, 3), 2, str(tmp_path / "backbone.weights.h5")
    )
    for loaded, original in zip(backbone_of(model).weights, saved.weights):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_a_weights_file_of_another_model_is_a_clear_error(tmp_path):
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    ).save_weights(tmp_path / "mobilenet.weights.h5")
    with pytest.raises(ValueError, match=r"do not fit efficientnet_b0 .*--weights none"):
        make_backbone_model(
            "efficientnet_b0", (32, 32, 3), 2, str(tmp_path / "mobilenet.weights.h5")
        )


def test_no_network_says_how_to_go_on_in_one_line():
    error = Exception(
        "URL fetch failure on https://storage.googleapis.com/x_no_top.h5: None --"
        " [Errno -2] Name or service not known"
    )
    message = str(weights_error("mobilenet_v2", "imagenet", error))
    assert "\n" not in message
    assert "cannot download the ImageNet weights of mobilenet_v2" in message
    assert "--weights PATH" in message and "--weights none" in message


def test_backbone_options_defaults_and_checks():
    options = TrainingOptions.for_model(["cat", "dog"], "mobilenet_v2")
    defaults = MODEL_DEFAULTS["mobilenet_v2"]
    assert (options.image_size, options.weights, options.fine_tune) == (160, "imagenet", 0)
    assert (options.optimizer, options.learning_rate) == ("adam", defaults["learning_rate"])
    tuned = TrainingOptions.for_model(["cat", "dog"], "mobilenet_v2", fine_tune=20)
    assert tuned.learning_rate == pytest.approx(defaults["learning_rate"] / 10)
    sgd = TrainingOptions.for_model(["cat", "dog"], "efficientnet_b0", optimizer="sgd")
    assert sgd.learning_rate == 0.01 and sgd.image_size == 224
    with pytest.raises(OptionsError, match="at least 32 px, received --image-size 16"):
        TrainingOptions.for_model(["a", "b"], "mobilenet_v2", image_size=16)
    with pytest.raises(OptionsError, match="apply to the pretrained models"):
        TrainingOptions.for_model(["a", "b"], "mlp", weights="imagenet")
    with pytest.raises(OptionsError, match="weights must be 'imagenet', 'none' or an uploaded"):
        TrainingOptions.for_model(["a", "b"], "mobilenet_v2", weights="/etc/passwd")
    uploaded = "sha256:" + "ab" * 32 + ".weights.h5"
    assert (
        TrainingOptions.for_model(["a", "b"], "mobilenet_v2", weights=uploaded).weights == uploaded
    )
