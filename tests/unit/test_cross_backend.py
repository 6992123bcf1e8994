"""A model trained on one Keras backend predicts the same on another.

Keras fixes its backend when it is first imported, so the other backend runs
in a child process (``KERAS_BACKEND`` set there): TensorFlow's model is read
back on JAX and on PyTorch, and the others' on TensorFlow when these tests run there.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

PREDICT_IN_CHILD = """
import json, sys
import numpy as np
from catdog_queue.training.prediction import load_model_safely, predict_batch
import keras
model = load_model_safely(sys.argv[1])
pixels = np.load(sys.argv[2])
np.save(sys.argv[3], predict_batch(model, pixels, "flip"))
print(json.dumps({"backend": keras.backend.backend()}))
"""


def other_backends() -> list[str]:
    import keras

    return [name for name in ("tensorflow", "jax", "torch") if name != keras.backend.backend()]


def predict_on(backend: str, model_path: Path, pixels_path: Path, tmp_path: Path):
    output = tmp_path / f"on-{backend}.npy"
    environment = os.environ | {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    environment["PYTHONPATH"] = str(REPOSITORY_ROOT)
    completed = subprocess.run(
        [sys.executable, "-c", PREDICT_IN_CHILD, str(model_path), str(pixels_path), str(output)],
        env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    reported = json.loads(completed.stdout.strip().splitlines()[-1])
    return reported["backend"], np.load(output)


@pytest.mark.parametrize("other", [0, 1])
@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_a_model_trained_here_predicts_the_same_on_the_other_backends(model_name, other, tmp_path):
    import keras

    backend = other_backends()[other]
    pytest.importorskip(backend, reason=f"{backend} is not installed (requirements-dev.txt has it)")

    from catdog_queue.training.models import compile_model, make_model, make_optimizer
    from catdog_queue.training.prediction import predict_batch

    keras.utils.set_random_seed(2)
    model = make_model(model_name, (16, 16, 3), 2, total_steps=4)
    compile_model(model, make_optimizer("adam"), 2)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)
    model.fit(pixels, np.eye(2)[rng.integers(0, 2, 24)], epochs=2, batch_size=6, verbose=0)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "pixels.npy", pixels)
    here = predict_batch(model, pixels, "flip")

    reported, there = predict_on(
        backend, tmp_path / "model.keras", tmp_path / "pixels.npy", tmp_path
    )
    assert reported == backend
    np.testing.assert_allclose(there, here, rtol=1e-4, atol=1e-5)
    assert (there.argmax(axis=1) == here.argmax(axis=1)).all()
