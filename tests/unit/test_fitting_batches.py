"""Evaluation and prediction batches that fit the device: halved when one runs out of memory,
with the same probabilities; training fails saying which --batch-size to pass. No broker."""

import logging

import numpy as np
import pytest

from catdog_queue.training.evaluation import predict_part
from catdog_queue.training.fitting_batches import (
    DeviceOutOfMemory,
    FittingBatches,
    is_out_of_memory,
    training_out_of_memory,
)


# What each backend raises when a step's memory cannot be had, by name and message.
class ResourceExhaustedError(Exception):  # TensorFlow
    pass


class XlaRuntimeError(RuntimeError):  # JAX
    pass


class OutOfMemoryError(RuntimeError):  # PyTorch
    pass


@pytest.mark.parametrize(
    "error",
    [
        ResourceExhaustedError("OOM when allocating tensor with shape[4096,768]"),
        XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.0GiB"),
        OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        MemoryError(),
    ],
)
def test_each_backends_out_of_memory_error_is_told_apart(error):
    assert is_out_of_memory(error)


@pytest.mark.parametrize("error", [ValueError("bad shape"), RuntimeError("device lost")])
def test_other_errors_are_not_out_of_memory(error):
    assert not is_out_of_memory(error)


def test_redis_full_is_not_the_device_out_of_memory():
    from redis.exceptions import OutOfMemoryError as RedisOutOfMemory

    full = RedisOutOfMemory("OOM command not allowed when used memory > 'maxmemory'.")
    assert not is_out_of_memory(full)


def step_that_fits(limit: int, seen: list):
    def step(pixels):
        if len(pixels) > limit:
            raise OutOfMemoryError(f"CUDA out of memory: a batch of {len(pixels)}")
        seen.append(len(pixels))
        return pixels * 2

    return step


def test_a_batch_too_big_is_halved_and_stays_halved(caplog):
    seen, fitting = [], FittingBatches(16)
    with caplog.at_level(logging.WARNING, logger="catdog_queue.training.fitting_batches"):
        first = fitting.apply(step_that_fits(5, seen), np.arange(16))
        second = fitting.apply(step_that_fits(5, seen), np.arange(16, 26))
    assert np.concatenate([out for out, _ in first + second]).tolist() == list(range(0, 52, 2))
    assert [count for _, count in first] == [4, 4, 4, 4]  # 16 -> 8 -> 4
    assert seen == [4, 4, 4, 4, 4, 4, 2] and fitting.size == 4 and fitting.halvings == 2
    assert (
        "out of memory on a batch of 16 images (OutOfMemoryError): going on with batches of 8"
        in (caplog.text)
    )


def test_an_error_that_is_not_memory_or_a_single_image_that_does_not_fit_is_raised():
    def broken(pixels):
        raise ValueError("bad shape")

    with pytest.raises(ValueError, match="bad shape"):
        FittingBatches(8).apply(broken, np.arange(8))
    fitting = FittingBatches(8)
    with pytest.raises(OutOfMemoryError):
        fitting.apply(step_that_fits(0, []), np.arange(8))
    assert fitting.size == 1 and fitting.halvings == 3


class Feed:
    """What evaluation reads: ``evaluation_batches(part, batch_size)``."""

    def __init__(self, pixels, labels):
        self.pixels, self.labels = pixels, labels

    def evaluation_batches(self, part, batch_size):
        for start in range(0, len(self.pixels), batch_size):
            yield self.pixels[start : start + batch_size], self.labels[start : start + batch_size]


def test_the_held_out_pass_gives_the_same_figures_when_batches_are_halved():
    rng = np.random.default_rng(0)
    pixels, labels = rng.random((20, 3)), rng.integers(0, 2, 20)

    def step(batch_pixels, targets, limit=None):
        if limit is not None and len(batch_pixels) > limit:
            raise ResourceExhaustedError("OOM when allocating tensor")
        probabilities = np.stack([batch_pixels[:, 0], 1 - batch_pixels[:, 0]], axis=1)
        return probabilities, float(np.mean(np.abs(probabilities - targets)))  # a mean loss

    whole = predict_part(step, Feed(pixels, labels), "test", 8, 2)
    halved = predict_part(lambda p, t: step(p, t, limit=3), Feed(pixels, labels), "test", 8, 2)
    np.testing.assert_allclose(halved[0], whole[0])
    np.testing.assert_array_equal(halved[1], whole[1])
    assert halved[2] == pytest.approx(whole[2])


class DeviceOfLittleMemory:
    """A model whose device holds ``limit`` images a call, as a small GPU would."""

    def __init__(self, model, limit: int):
        self.model, self.limit, self.sizes = model, limit, []
        self.input_shape, self.output_shape = model.input_shape, model.output_shape

    def predict_on_batch(self, pixels):
        if len(pixels) > self.limit:
            raise OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(pixels)} MiB")
        self.sizes.append(len(pixels))
        return self.model.predict_on_batch(pixels)


def test_prediction_on_a_small_device_halves_its_batches_and_predicts_the_same():
    import keras

    from catdog_queue.training.models import make_mlp
    from catdog_queue.training.prediction import predict_shards
    from tests.shard_source import shard_source

    keras.utils.set_random_seed(0)
    model = make_mlp((4, 4, 3), 2)
    pixels = np.random.default_rng(0).integers(0, 256, (12, 4, 4, 3), dtype=np.uint8)
    catalogue, fetch, _ = shard_source(pixels, [f"{n}.jpg" for n in range(12)], 6)
    small = DeviceOfLittleMemory(model, limit=2)
    predicted = predict_shards(small, catalogue, fetch, 6)
    np.testing.assert_allclose(predicted, model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6)
    assert sum(small.sizes) == 12 and max(small.sizes) == 1  # 6 -> 3 -> 1


def test_training_out_of_memory_names_the_batch_to_pass_and_does_not_end_the_worker():
    failure = training_out_of_memory(ResourceExhaustedError("OOM when allocating"), 128)
    assert isinstance(failure, DeviceOutOfMemory)
    # Celery re-raises a MemoryError out of the task, ending the pool process.
    assert not isinstance(failure, MemoryError)
    assert "training batches of 128 images (ResourceExhaustedError)" in str(failure)
    assert "pass --batch-size 64" in str(failure)
