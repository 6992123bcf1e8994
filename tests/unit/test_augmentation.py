"""FlipAndShift: off at inference, flips and shifts in training, shapes kept, saved and loaded."""

import numpy as np
import pytest


def distinct_images(count=32, size=10):
    """Images whose every pixel differs, so a flip or shift always changes one."""
    base = np.arange(size * size * 3, dtype=np.float32).reshape(size, size, 3)
    return np.stack([base + 1000 * number for number in range(count)])


def test_inference_returns_the_images_unchanged():
    from catdog_queue.training.augmentation import FlipAndShift

    images = distinct_images()
    layer = FlipAndShift(0.2, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    np.testing.assert_array_equal(np.asarray(layer(images)), images)


def test_training_changes_images_and_keeps_their_shape():
    import keras

    from catdog_queue.training.augmentation import FlipAndShift

    images = distinct_images()
    augmented = keras.ops.convert_to_numpy(FlipAndShift(0.2, seed=0)(images, training=True))
    assert augmented.shape == images.shape
    changed = (augmented != images).reshape(len(images), -1).any(axis=1)
    assert changed.sum() > len(images) // 2


def test_flips_alone_mirror_about_half_of_the_images():
    import keras

    from catdog_queue.training.augmentation import FlipAndShift

    images = distinct_images(count=64)
    flipped = keras.ops.convert_to_numpy(FlipAndShift(0.0, seed=3)(images, training=True))
    mirrored = [np.array_equal(out, image[:, ::-1]) for out, image in zip(flipped, images)]
    kept = [np.array_equal(out, image) for out, image in zip(flipped, images)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image is one or the other
    assert 16 <= sum(mirrored) <= 48


def test_shift_moves_whole_pixels_within_the_reflected_margin():
    import keras

    from catdog_queue.training.augmentation import FlipAndShift

    images = distinct_images(count=16)
    shifted = keras.ops.convert_to_numpy(FlipAndShift(0.1, seed=5)._shift(images))
    padded = np.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    for out, source in zip(shifted, padded):
        crops = [source[r : r + 10, c : c + 10] for r in range(3) for c in range(3)]
        assert any(np.array_equal(out, crop) for crop in crops)


def test_a_model_with_the_layer_saves_and_loads_in_safe_mode(tmp_path):
    import keras

    from catdog_queue.training.augmentation import FlipAndShift

    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, FlipAndShift(0.1, name="augment")(inputs))
    model.save(tmp_path / "augment.keras")
    reloaded = keras.saving.load_model(tmp_path / "augment.keras", safe_mode=True)
    assert reloaded.get_layer("augment").max_shift == 0.1
    images = distinct_images(count=4)
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), images)


def test_a_shift_of_half_the_image_or_more_is_refused():
    from catdog_queue.training.augmentation import FlipAndShift

    with pytest.raises(ValueError, match="max_shift"):
        FlipAndShift(0.5)
