"""Model builders, optimizers, compilation and a tiny end-to-end training run."""

import keras
import numpy as np
import pytest
from keras import layers

from catdog_queue.shared.options import DEFAULT_LEARNING_RATES, TrainingOptions
from catdog_queue.shared.split import stratified_split
from catdog_queue.training.fit import confusion_matrix, label_indices_for, train_and_evaluate
from catdog_queue.training.models import compile_model, make_mlp, make_model, make_optimizer
from tests.shard_source import shard_source

# TensorFlow tensors' __array__ predates NumPy 2's copy keyword: noise from Keras itself.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


def dense_units(model) -> list[int]:
    return [layer.units for layer in model.layers if isinstance(layer, layers.Dense)]


# --- models -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    return make_mlp((32, 32, 3), 2)


def test_mlp_has_the_tutorial_layer_sizes(mlp):
    assert dense_units(mlp) == [768, 384, 2]
    flatten = next(layer for layer in mlp.layers if isinstance(layer, layers.Flatten))
    assert tuple(flatten.output.shape) == (None, 3072)
    assert tuple(mlp.output.shape) == (None, 2)
    assert mlp.count_params() == (3072 * 768 + 768) + (768 * 384 + 384) + (384 * 2 + 2)


def test_mlp_takes_raw_uint8_pixels_and_rescales_inside(mlp):
    assert tuple(mlp.input.shape) == (None, 32, 32, 3)
    assert mlp.input.dtype == "uint8"
    (rescaling,) = [layer for layer in mlp.layers if isinstance(layer, layers.Rescaling)]
    assert rescaling.scale == pytest.approx(1 / 255)
    assert rescaling.offset == 0
    scaled = rescaling(np.array([[0, 51, 255]], dtype=np.uint8))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scaled), [[0.0, 0.2, 1.0]], rtol=1e-6)


def test_mlp_outputs_probabilities(mlp):
    batch = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)

    probabilities = keras.ops.convert_to_numpy(mlp(batch))

    assert probabilities.shape == (5, 2)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_make_model_with_three_classes():
    model = make_model("mlp", (4, 4, 3), 3)

    assert dense_units(model) == [768, 384, 3]
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 4, 4, 3), dtype=np.uint8)))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        make_model("resnet", (4, 4, 3), 2)


def test_a_single_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_mlp((4, 4, 3), 1)


# --- optimizers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "learning_rate"),
    [
        ("sgd", keras.optimizers.SGD, 0.01),
        ("rmsprop", keras.optimizers.RMSprop, 0.001),
        ("adagrad", keras.optimizers.Adagrad, 0.01),
        ("adam", keras.optimizers.Adam, 0.001),
    ],
)
def test_optimizer_kind_and_default_learning_rate(name, kind, learning_rate):
    optimizer = make_optimizer(name)

    assert type(optimizer) is kind
    assert float(optimizer.learning_rate) == pytest.approx(learning_rate, rel=1e-6)
    assert DEFAULT_LEARNING_RATES[name] == learning_rate


def test_adagrad_is_not_sgd():
    optimizer = make_optimizer("adagrad")
    assert isinstance(optimizer, keras.optimizers.Adagrad)
    assert not isinstance(optimizer, keras.optimizers.SGD)


def test_explicit_learning_rate_and_fresh_instances():
    first = make_optimizer("sgd", 0.5)
    second = make_optimizer("sgd", 0.5)
    assert float(first.learning_rate) == pytest.approx(0.5)
    assert first is not second


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        make_optimizer("adamw")


@pytest.mark.parametrize("learning_rate", [0, 0.0, -0.01])
def test_non_positive_learning_rate_is_rejected(learning_rate):
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        make_optimizer("adam", learning_rate)


@pytest.mark.parametrize(
    ("num_classes", "loss"), [(2, "binary_crossentropy"), (3, "categorical_crossentropy")]
)
def test_compile_picks_the_loss_by_class_count(num_classes, loss):
    model = make_mlp((2, 2, 3), num_classes)
    optimizer = make_optimizer("sgd")

    compile_model(model, optimizer, num_classes)

    assert model.loss == loss
    assert model.optimizer is optimizer


# --- confusion matrix and labels --------------------------------------------------


def test_confusion_matrix_on_a_known_example():
    true = [0, 0, 1, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 0, 2, 0]
    assert confusion_matrix(true, predicted, 3) == [[1, 1, 0], [1, 2, 0], [1, 0, 1]]


def test_confusion_matrix_includes_classes_never_seen():
    assert confusion_matrix(np.array([0, 0]), np.array([0, 0]), 2) == [[2, 0], [0, 0]]


def test_label_indices_follow_the_sorted_label_list():
    paths = ["dog.1.png", "sub/cat.2.png", "cat.1.jpg"]
    np.testing.assert_array_equal(label_indices_for(paths, ["cat", "dog"]), [1, 0, 0])
    with pytest.raises(ValueError, match="label outside"):
        label_indices_for(["fox.1.png"], ["cat", "dog"])


# --- train_and_evaluate -----------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests below (40 images of 8x8)."""
    output_dir = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    paths, pixels = [], []
    for number in range(20):
        for label, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            paths.append(f"{label}.{number}.png")
            noise = rng.integers(-20, 21, (8, 8, 3))
            pixels.append(np.clip(np.array(colour) + noise, 0, 255))
    pixels = np.array(pixels, dtype=np.uint8)
    options = TrainingOptions.for_model(
        ["cat", "dog"], "mlp", optimizer="adam", epochs=2, batch_size=8, image_size=8, seed=0
    )
    progress = []
    catalogue, fetch, _ = shard_source(pixels, paths, 15)
    metrics = train_and_evaluate(catalogue, fetch, options, str(output_dir), progress.append)
    return {
        "metrics": metrics,
        "progress": progress,
        "output_dir": output_dir,
        "pixels": pixels,
        "paths": paths,
        "options": options,
    }


def test_training_writes_both_model_files(trained):
    for name in ("model.keras", "model.h5"):
        path = trained["output_dir"] / name
        assert path.is_file()
        assert path.stat().st_size > 10_000


def test_training_metrics(trained):
    metrics = trained["metrics"]

    assert metrics["train_images"] + metrics["test_images"] == 40
    assert metrics["test_images"] == 10  # 5 of each label at test_size 0.25
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (2, 2)
    assert matrix.sum() == metrics["test_images"]
    assert list(matrix.sum(axis=1)) == [5, 5]
    for name in ("test_accuracy", "train_accuracy"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum(), abs=1e-6)
    assert np.isfinite(metrics["test_loss"])
    assert metrics["device"].startswith(("CPU", "GPU"))
    assert metrics["backend"] == keras_backend()
    assert metrics["timings"]["train_s"] > 0
    assert metrics["timings"]["evaluate_s"] > 0


def test_training_history_has_one_entry_per_epoch(trained):
    history = trained["metrics"]["history"]

    assert len(history) == 2
    for epoch in history:
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epoch)
        assert all(isinstance(value, float) for value in epoch.values())


def test_training_reports_progress_up_to_the_last_epoch(trained):
    progress = trained["progress"]
    epoch_ends = [event for event in progress if "fraction" not in event]

    assert [event["epoch"] for event in epoch_ends] == [1, 2]
    assert progress[-1]["epoch"] == 2
    assert progress[-1]["epochs"] == 2
    assert "loss" in progress[-1] and "val_accuracy" in progress[-1]


def test_saved_model_reloads_and_predicts_the_same(trained):
    pixels, paths, options = trained["pixels"], trained["paths"], trained["options"]
    labels = label_indices_for(paths, ["cat", "dog"])
    _, test = stratified_split(paths, labels, options.test_size, options.seed)

    reloaded = keras.saving.load_model(trained["output_dir"] / "model.keras")
    legacy = keras.saving.load_model(trained["output_dir"] / "model.h5", compile=False)
    probabilities = reloaded.predict(pixels, verbose=0)

    assert reloaded.input.dtype == "uint8"
    assert probabilities.shape == (40, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(legacy.predict(pixels, verbose=0), probabilities, atol=1e-6)
    # The reloaded model reproduces the held-out confusion matrix from training.
    predicted = probabilities[test].argmax(axis=1)
    assert confusion_matrix(labels[test], predicted, 2) == trained["metrics"]["confusion_matrix"]
    test_loss = reloaded.evaluate(
        pixels[test], keras.utils.to_categorical(labels[test], 2), verbose=0
    )[0]
    assert test_loss == pytest.approx(trained["metrics"]["test_loss"], rel=1e-4)


def test_cnn_has_augmentation_batch_norm_pooling_and_dropout():
    from catdog_queue.training.models import make_cnn

    model = make_cnn((32, 32, 3), 2, filters=(4, 8))
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Rescaling", "FlipAndShift", "BatchNormalization"} <= kinds
    assert {"GlobalAveragePooling2D", "Dropout", "Conv2D", "MaxPooling2D"} <= kinds
    assert model.input.dtype == "uint8"
    assert model.output_shape == (None, 2)


def test_cnn_augmentation_is_off_at_inference_and_the_model_round_trips(tmp_path):
    import keras

    from catdog_queue.training.models import compile_model, make_cnn, make_optimizer

    keras.utils.set_random_seed(1)
    model = make_cnn((16, 16, 3), 3, filters=(4, 8))
    compile_model(model, make_optimizer("adam"), 3)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    targets = keras.utils.to_categorical(rng.integers(0, 3, 12), 3)
    model.fit(pixels, targets, epochs=1, batch_size=6, verbose=0)
    first = model.predict(pixels, verbose=0)
    np.testing.assert_allclose(first, model.predict(pixels, verbose=0), rtol=1e-6)
    model.save(tmp_path / "cnn.keras")
    reloaded = keras.saving.load_model(tmp_path / "cnn.keras")
    np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), first, rtol=1e-5, atol=1e-6)


def test_early_stopping_validation_comes_out_of_the_training_part():
    from catdog_queue.training.fit import split_parts

    paths = [f"{label}.{number}.jpg" for label in ("cat", "dog") for number in range(50)]
    labels = np.array([0] * 50 + [1] * 50)
    options = TrainingOptions(("cat", "dog"), test_size=0.2, seed=3)
    plain = split_parts(paths, labels, options)
    stopping = split_parts(paths, labels, options.replace(patience=2, validation_size=0.1))
    np.testing.assert_array_equal(plain["test"], stopping["test"])
    parts = [set(stopping[name].tolist()) for name in ("train", "validation", "test")]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2])
    assert parts[1].isdisjoint(parts[2])
    assert parts[0] | parts[1] == set(plain["train"].tolist())
    assert len(parts[1]) == 8 and np.bincount(labels[stopping["validation"]]).tolist() == [4, 4]


def test_best_epoch_is_the_lowest_validation_loss():
    from catdog_queue.training.fit import best_epoch

    history = [{"val_loss": 0.9}, {"val_loss": 0.5}, {"val_loss": 0.7}]
    assert best_epoch(history) == 2
    assert best_epoch([{"loss": 0.3}]) is None
    assert best_epoch([]) is None


def test_mixed_precision_cnn_keeps_float32_probabilities():
    from catdog_queue.training.models import make_model

    model = make_model("cnn", (16, 16, 3), 2, mixed_precision=True)
    conv = model.get_layer("conv1")
    assert conv.dtype_policy.name == "mixed_float16"
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    assert model.get_layer("probabilities").compute_dtype == "float32"
    assert model.output.dtype == "float32"


def test_mixed_precision_needs_a_gpu_the_cnn_and_no_forced_cpu():
    from catdog_queue.training.fit import mixed_precision_in_use

    asked = TrainingOptions(("cat", "dog"), model="cnn", optimizer="adam", mixed_precision=True)
    assert mixed_precision_in_use(asked, gpu_present=True) is True
    assert mixed_precision_in_use(asked, gpu_present=False) is False
    assert mixed_precision_in_use(asked.replace(device="cpu"), gpu_present=True) is False
    assert mixed_precision_in_use(asked.replace(model="mlp"), gpu_present=True) is False
    assert mixed_precision_in_use(asked.replace(mixed_precision=False), gpu_present=True) is False


def test_device_scope_accepts_auto_and_cpu_only():
    from catdog_queue.training.devices import describe_device, device_scope

    with device_scope("cpu"):
        assert describe_device("cpu").startswith("CPU")
    with pytest.raises(ValueError, match="'auto' or 'cpu'"):
        device_scope("tpu")


def test_training_refuses_a_single_label_left_after_decoding():
    from catdog_queue.training.fit import require_two_labels

    require_two_labels(np.array([0, 1, 1]), ["cat", "dog"])
    with pytest.raises(
        ValueError, match=r"only images of \['cat'\] remain.*\['dog'\] was rejected"
    ):
        require_two_labels(np.array([0, 0]), ["cat", "dog"])


def test_the_held_out_digest_names_the_held_out_files_whatever_their_order():
    from catdog_queue.training.fit import held_out_digest

    paths = ["cat.1.jpg", "cat.2.jpg", "dog.1.jpg", "dog.2.jpg"]
    assert held_out_digest(paths, [0, 2]) == held_out_digest(paths[::-1], [3, 1])
    assert held_out_digest(paths, [0, 2]) != held_out_digest(paths, [0, 3])


def keras_backend() -> str:
    import keras

    return keras.backend.backend()
