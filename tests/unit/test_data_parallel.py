"""Training on several devices of one worker, on the CPU: JAX and TensorFlow each split
the processor into two devices, and the same job trains on one and on both.

A backend reads its device flags when it starts, so each one runs in a child
process: JAX told by ``XLA_FLAGS`` to show two CPU devices, TensorFlow given two
logical CPUs before anything starts its runtime.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

TRAIN_IN_CHILD = """
import json, os, sys
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from tests.shard_source import shard_source
from tests.unit.test_streaming import DictCheckpoints, options, separable
from catdog_queue.training.execution import plan_execution
from catdog_queue.training.fit import train_and_evaluate

def copies_of_a_variable(job):
    plan = plan_execution(job, 32)
    with plan.placement.scope():
        value = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).weights[0].value
    if keras.backend.backend() == "jax":
        return len(value.sharding.device_set)
    return len(getattr(value, "values", [value]))  # a MirroredVariable's per-replica copies

pixels, paths = separable(per_label=23)
limits = {"memory_budget_bytes": 10**9, "window_bytes": 15 * 8 * 8 * 3}
kept_after_one_epoch = DictCheckpoints(keep_epoch=1)
chosen = ("test_accuracy", "test_images", "train_devices", "steps_per_execution", "jit_compile",
          "backend", "resumed_from_epoch")
runs = {}
for name, devices, mode, checkpoints in (
    ("one", "cpu:1", "memory", None),
    ("two", "cpu:2", "memory", kept_after_one_epoch),
    ("two streamed", "cpu:2", "stream", None),
    ("two resumed", "cpu:2", "memory", kept_after_one_epoch),  # from the first epoch of "two"
):
    os.environ["CATDOG_TRAIN_DEVICES"] = devices
    job = options(epochs=2, data_mode=mode)
    catalogue, fetch, _ = shard_source(pixels, paths, 15)
    metrics = train_and_evaluate(
        catalogue, fetch, job, sys.argv[1], checkpoints=checkpoints, limits=limits
    )
    runs[name] = {field: metrics[field] for field in chosen} | {"copies": copies_of_a_variable(job)}
print(json.dumps(runs))
"""


def train_on_two_cpu_devices(backend: str, tmp_path: Path) -> dict:
    environment = os.environ | {
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "CATDOG_STEPS_PER_EXECUTION": "4",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPOSITORY_ROOT),
    }
    completed = subprocess.run(
        [sys.executable, "-c", TRAIN_IN_CHILD, str(tmp_path)],
        env=environment, capture_output=True, text=True, timeout=600, cwd=REPOSITORY_ROOT,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("backend", "strategy", "steps"), [("tensorflow", "mirrored", 1), ("jax", "data_parallel", 4)]
)
def test_two_devices_train_data_parallel_and_learn_as_well_as_one(
    backend, strategy, steps, tmp_path
):
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed (requirements-dev.txt has it)")
    runs = train_on_two_cpu_devices(backend, tmp_path)
    one = runs["one"]
    assert one["train_devices"]["count"] == 1 and one["train_devices"]["strategy"] == "single"
    assert one["copies"] == 1 and one["steps_per_execution"] == 4
    for name in ("two", "two streamed", "two resumed"):
        two = runs[name]
        assert two["backend"] == backend
        assert two["train_devices"]["count"] == 2 and two["train_devices"]["strategy"] == strategy
        assert len(set(two["train_devices"]["names"])) == 2
        assert two["copies"] == 2  # every variable lives on both devices
        # The mirrored strategy's multi-step loop fails in Keras: one step per call there.
        assert two["steps_per_execution"] == steps
        assert two["test_images"] == one["test_images"]
        # Separable colours: both learn them; the split of batches changes only the noise.
        assert two["test_accuracy"] >= 0.9
        assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.1
    assert runs["two resumed"]["resumed_from_epoch"] == 1
    assert runs["two"]["jit_compile"] is (backend == "jax")
