"""How training steps run: XLA or not, steps per call, and what the progress reports see."""

import numpy as np
import pytest

from catdog_queue.shared import settings
from catdog_queue.shared.settings import DEFAULT_GPU_STEPS_PER_EXECUTION, SettingError
from catdog_queue.training.execution import jit_compile_for, steps_per_execution_for


def test_xla_on_jax_always_on_tensorflow_on_a_gpu_only_never_on_torch():
    assert jit_compile_for("jax", False) and jit_compile_for("jax", True)
    assert jit_compile_for("tensorflow", True) and not jit_compile_for("tensorflow", False)
    assert not jit_compile_for("torch", True)


def test_steps_per_execution_default_to_one_on_a_cpu_and_more_on_a_gpu():
    assert steps_per_execution_for(None, "tensorflow", "single", 100, on_gpu=False) == 1
    on_gpu = steps_per_execution_for(None, "jax", "single", 100, on_gpu=True)
    assert on_gpu == DEFAULT_GPU_STEPS_PER_EXECUTION > 1


def test_steps_per_execution_stay_within_an_epoch_and_where_keras_can_run_them():
    assert steps_per_execution_for(8, "jax", "data_parallel", 100, on_gpu=True) == 8
    assert steps_per_execution_for(8, "tensorflow", "single", 3, on_gpu=False) == 3
    assert steps_per_execution_for(8, "tensorflow", "mirrored", 100, on_gpu=True) == 1
    assert steps_per_execution_for(8, "torch", "single", 100, on_gpu=True) == 1


def test_a_bad_steps_per_execution_is_refused_with_what_was_received():
    with pytest.raises(ValueError, match=r"at least 1, received 0"):
        steps_per_execution_for(0, "jax", "single", 10, on_gpu=False)


def test_the_steps_per_execution_setting(monkeypatch):
    monkeypatch.delenv("CATDOG_STEPS_PER_EXECUTION", raising=False)
    assert settings.steps_per_execution() is None
    monkeypatch.setenv("CATDOG_STEPS_PER_EXECUTION", "32")
    assert settings.steps_per_execution() == 32
    monkeypatch.setenv("CATDOG_STEPS_PER_EXECUTION", "many")
    with pytest.raises(SettingError, match="CATDOG_STEPS_PER_EXECUTION must be a number"):
        settings.steps_per_execution()


def test_progress_reaches_the_epochs_end_when_keras_runs_several_steps_a_call(monkeypatch):
    """Keras calls the batch hook once a call: 10 steps, 4 a call, is 3 reports."""
    import keras

    from catdog_queue.training import callbacks
    from catdog_queue.training.models import compile_model, make_model, make_optimizer

    monkeypatch.setattr(callbacks, "PROGRESS_INTERVAL_S", 0.0)  # every call reports
    model = make_model("mlp", (2, 2, 3), 2)
    compile_model(model, make_optimizer("adam"), 2, jit_compile=False, steps_per_execution=4)
    seen = []

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    reports = []
    progress = callbacks.ProgressCallback(1, reports.append)
    pixels = np.zeros((40, 2, 2, 3), np.uint8)
    model.fit(pixels, np.eye(2)[np.arange(40) % 2], batch_size=4, epochs=1, verbose=0,
              callbacks=[Batches(), progress])  # fmt: skip
    # Once a call; the short last call is named as if whole (11, not 9) by Keras.
    assert len(seen) == 3 and seen[:2] == [3, 7] and seen[2] >= 9
    fractions = [report["fraction"] for report in reports if "fraction" in report]
    assert fractions == [0.4, 0.8, 1.0]
    assert reports[-1]["completed"]["epoch"] == 1
