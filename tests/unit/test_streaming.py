"""Training from shards, in memory and streamed: same split, same figures, resumable."""

import numpy as np
import pytest

from catdog_queue.shared.options import TrainingOptions
from catdog_queue.training.fit import train_and_evaluate
from tests.shard_source import shard_source

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")

# One shard (15 images of 8x8) per window: a window is 2,880 bytes of pixels.
SMALL_WINDOW = {"memory_budget_bytes": 10**9, "window_bytes": 15 * 8 * 8 * 3}


def separable(per_label=20, seed=0):
    rng = np.random.default_rng(seed)
    paths, pixels = [], []
    for number in range(per_label):
        for label, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            paths.append(f"{label}.{number}.png")
            pixels.append(np.clip(np.array(colour) + rng.integers(-20, 21, (8, 8, 3)), 0, 255))
    return np.array(pixels, dtype=np.uint8), paths


def options(**changes):
    chosen = {"optimizer": "adam", "epochs": 2, "batch_size": 8, "image_size": 8, "seed": 0}
    return TrainingOptions.for_model(["cat", "dog"], "mlp", **(chosen | changes))


class DictCheckpoints:
    """The worker's checkpoint store minus Redis: the last save, kept in memory."""

    def __init__(self, keep_epoch=None):
        self.saved, self.keep_epoch = None, keep_epoch

    def load(self):
        return self.saved

    def save(self, model_bytes, epoch, history):
        if self.keep_epoch is None or epoch <= self.keep_epoch:
            self.saved = (bytes(model_bytes), {"epoch": epoch, "history": list(history)})


@pytest.fixture(scope="module")
def both_modes(tmp_path_factory):
    pixels, paths = separable()
    runs = {}
    for mode in ("memory", "stream"):
        catalogue, fetch, fetched = shard_source(pixels, paths, 15)
        output = tmp_path_factory.mktemp(mode)
        metrics = train_and_evaluate(
            catalogue, fetch, options(data_mode=mode), str(output), limits=SMALL_WINDOW
        )
        runs[mode] = {"metrics": metrics, "fetched": list(fetched), "output": output}
    return runs


def test_both_modes_hold_out_the_same_images_and_learn(both_modes):
    memory, stream = both_modes["memory"]["metrics"], both_modes["stream"]["metrics"]
    assert (memory["data_mode"], stream["data_mode"]) == ("memory", "stream")
    assert memory["test_set_sha256"] == stream["test_set_sha256"]
    assert (memory["train_images"], memory["test_images"]) == (30, 10)
    assert (stream["train_images"], stream["test_images"]) == (30, 10)
    assert np.sum(stream["confusion_matrix"], axis=1).tolist() == [5, 5]
    assert stream["test_accuracy"] >= 0.9 and memory["test_accuracy"] >= 0.9
    assert len(stream["history"]) == 2 and "val_loss" in stream["history"][0]
    assert (
        stream["data_feed"]["window_shards"] == 1 and stream["data_feed"]["requested"] == "stream"
    )
    assert (both_modes["stream"]["output"] / "model.keras").is_file()


def test_streaming_reports_its_wait_for_input_and_memory_none(both_modes):
    stream = both_modes["stream"]["metrics"]["timings"]
    assert 0 <= stream["input_wait_s"] <= stream["train_s"]
    assert stream["input_wait_share"] == stream["input_wait_s"] / stream["train_s"]
    memory = both_modes["memory"]["metrics"]["timings"]
    assert (memory["input_wait_s"], memory["input_wait_share"]) == (None, None)


def test_memory_reads_each_shard_once_and_streaming_once_per_pass(both_modes):
    assert sorted(both_modes["memory"]["fetched"]) == sorted(set(both_modes["memory"]["fetched"]))
    # 3 shards; each epoch one training and one validation pass, then two evaluation
    # passes: nothing read ahead for nothing, nothing read twice in a pass.
    assert len(both_modes["stream"]["fetched"]) == 3 * (2 * 2 + 2)


def test_auto_streams_what_exceeds_the_memory_budget(tmp_path):
    pixels, paths = separable(per_label=6)
    catalogue, fetch, _ = shard_source(pixels, paths, 5)
    budget = {"memory_budget_bytes": catalogue.pixel_bytes - 1, "window_bytes": 10**6}
    metrics = train_and_evaluate(catalogue, fetch, options(epochs=1), str(tmp_path), limits=budget)
    assert metrics["data_mode"] == "stream"
    assert "exceed" in metrics["data_feed"]["reason"]
    assert metrics["data_feed"]["pixel_bytes"] == 12 * 8 * 8 * 3
    budget["memory_budget_bytes"] = catalogue.pixel_bytes
    metrics = train_and_evaluate(catalogue, fetch, options(epochs=1), str(tmp_path), limits=budget)
    assert metrics["data_mode"] == "memory" and metrics["peak_rss_bytes"] > 0


def test_a_streamed_run_resumed_from_a_checkpoint_goes_on_as_if_never_stopped(tmp_path):
    pixels, paths = separable()
    chosen = options(epochs=3, data_mode="stream", optimizer="sgd")

    def run(checkpoints, folder):
        catalogue, fetch, _ = shard_source(pixels, paths, 15)
        return train_and_evaluate(
            catalogue, fetch, chosen, str(tmp_path / folder), checkpoints=checkpoints,
            limits=SMALL_WINDOW,
        )  # fmt: skip

    (tmp_path / "whole").mkdir(), (tmp_path / "first").mkdir(), (tmp_path / "rest").mkdir()
    whole = run(DictCheckpoints(), "whole")
    interrupted = DictCheckpoints(keep_epoch=1)  # as if the worker died during epoch 2
    run(interrupted, "first")
    resumed = run(interrupted, "rest")

    assert resumed["resumed_from_epoch"] == 1
    assert len(resumed["history"]) == 3
    for finished, again in zip(whole["history"], resumed["history"]):
        assert again["loss"] == pytest.approx(finished["loss"], rel=1e-4)
    assert resumed["test_loss"] == pytest.approx(whole["test_loss"], rel=1e-4)


def test_a_checkpoint_restores_weights_and_optimizer_state_into_a_fresh_model():
    import keras

    from catdog_queue.training.callbacks import checkpoint_bytes, restore
    from catdog_queue.training.models import compile_model, make_model, make_optimizer

    def build(classes=2):
        model = make_model("cnn", (16, 16, 3), classes)
        compile_model(model, make_optimizer("adam"), classes)
        return model

    keras.utils.set_random_seed(3)
    trained = build()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    trained.fit(pixels, np.eye(2)[np.arange(8) % 2], epochs=2, batch_size=4, verbose=0)
    saved = checkpoint_bytes(trained)
    assert saved.startswith(b"CDQCKPT1") and b"pickle" not in saved[:200]

    model, epoch, history = restore((saved, {"epoch": 2, "history": [{"loss": 1.0}]}), build)
    assert (epoch, history) == (2, [{"loss": 1.0}])
    np.testing.assert_allclose(model.predict(pixels, verbose=0), trained.predict(pixels, verbose=0))
    assert int(model.optimizer.iterations.numpy()) == 4
    for restored, original in zip(model.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
    with pytest.raises(ValueError, match="do not fit this job's model"):
        restore((saved, {"epoch": 2, "history": []}), lambda: build(classes=3))
