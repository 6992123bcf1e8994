"""Test-time augmentation: each image's probabilities averaged with its mirror's."""

import numpy as np
import pytest

from catdog_queue.client.arguments import build_parser
from catdog_queue.client.commands.common import training_options
from catdog_queue.shared.options import OptionsError, PredictOptions, TrainingOptions

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


def parse(*arguments):
    return build_parser().parse_args([str(argument) for argument in arguments])


@pytest.fixture(scope="module")
def model():
    """An MLP on 4x4 images: flattened pixels, so it tells an image from its mirror."""
    import keras

    from catdog_queue.training.models import make_mlp

    keras.utils.set_random_seed(0)
    return make_mlp((4, 4, 3), 2)


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)


def test_predict_and_train_take_tta_none_by_default_and_flip():
    assert parse("predict", "--model", "m.keras", "--data", "d").tta == "none"
    assert parse("predict", "--model", "m.keras", "--data", "d", "--tta", "flip").tta == "flip"
    args = parse("train", "--data", "d", "--model", "cnn", "--tta", "flip")
    assert training_options(args, ["cat", "dog"]).tta == "flip"
    assert training_options(parse("train", "--data", "d"), ["cat", "dog"]).tta == "none"
    with pytest.raises(SystemExit):
        parse("predict", "--model", "m.keras", "--data", "d", "--tta", "rotate")


def test_options_refuse_an_unknown_augmentation_in_a_message():
    assert PredictOptions.from_json({"labels": ["a", "b"], "image_size": 8, "tta": "flip"}).tta
    with pytest.raises(OptionsError, match="unknown test-time augmentation 'rotate'"):
        PredictOptions(("a", "b"), 8, tta="rotate")
    with pytest.raises(OptionsError, match="unknown test-time augmentation 'x'"):
        TrainingOptions(("a", "b"), tta="x")


def test_flip_averages_the_image_and_its_mirror(model, pixels):
    from catdog_queue.training.prediction import mirrored, predict_batch

    plain = model.predict_on_batch(pixels)
    flipped = predict_batch(model, pixels, "flip")

    np.testing.assert_array_equal(mirrored(pixels)[:, :, 0], pixels[:, :, -1])
    np.testing.assert_allclose(predict_batch(model, pixels), plain, rtol=1e-6)
    expected = (plain + model.predict_on_batch(mirrored(pixels).copy())) / 2
    np.testing.assert_allclose(flipped, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(flipped, plain)  # the mirror counted
    # An image and its mirror now get the same answer.
    np.testing.assert_allclose(
        predict_batch(model, mirrored(pixels).copy(), "flip"), flipped, rtol=1e-5, atol=1e-7
    )
    with pytest.raises(ValueError, match="unknown test-time augmentation 'rotate'"):
        predict_batch(model, pixels, "rotate")


def test_predict_shards_and_the_held_out_evaluation_flip_alike(model, pixels):
    from catdog_queue.training.evaluation import evaluate
    from catdog_queue.training.prediction import predict_batch, predict_shards
    from tests.shard_source import shard_source

    catalogue, fetch, _ = shard_source(pixels, [f"{n}.jpg" for n in range(10)], 4)
    expected = predict_batch(model, pixels, "flip")
    np.testing.assert_allclose(
        predict_shards(model, catalogue, fetch, 3, tta="flip"), expected, rtol=1e-5, atol=1e-7
    )

    class Feed:  # both parts are the ten images, in three batches
        labels = np.arange(10) % 2

        def evaluation_batches(self, part, batch_size):
            for start in range(0, 10, batch_size):
                yield pixels[start : start + batch_size], self.labels[start : start + batch_size]

    from catdog_queue.training.models import compile_model, make_optimizer

    compile_model(model, make_optimizer("sgd"), 2)
    metrics = evaluate(model, Feed(), 4, 2, tta="flip")
    predicted = expected.argmax(axis=1)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == Feed.labels))
    assert (
        np.array(metrics["confusion_matrix"]).sum(axis=0).tolist()
        == np.bincount(predicted, minlength=2).tolist()
    )
