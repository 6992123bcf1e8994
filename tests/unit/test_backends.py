"""The per-backend adapter: which backend is asked for, and each one's memory settings."""

import pytest

from catdog_queue.training.devices import memory_environment, requested_backend


def test_tensorflow_is_the_default_backend():
    assert requested_backend({}) == "tensorflow"
    assert requested_backend({"KERAS_BACKEND": "jax"}) == "jax"


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="KERAS_BACKEND must be one of"):
        requested_backend({"KERAS_BACKEND": "theano"})


def test_jax_allocates_as_needed_instead_of_taking_most_of_the_gpu():
    assert memory_environment("jax", None) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert memory_environment("jax", 4096) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def test_torch_uses_expandable_segments_and_tensorflow_its_own_config():
    assert memory_environment("torch", None) == {
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"
    }
    assert memory_environment("tensorflow", 4096) == {}


def test_the_training_side_names_its_backend_and_the_forced_cpu():
    from catdog_queue.training.devices import backend_name, describe_device, has_gpu

    assert backend_name() in ("tensorflow", "jax", "torch")
    assert isinstance(has_gpu(), bool)
    assert describe_device("cpu").startswith("CPU: ")
