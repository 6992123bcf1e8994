"""A local cluster checks for Keras and its backend before it starts a gpu worker."""

import pytest

from catdog_queue.client.local_cluster import ClusterError
from catdog_queue.client.local_cluster.frameworks import (
    missing_training_packages,
    require_training_packages,
)


def finder_of(installed: set[str]):
    """A ``find_spec`` that finds only ``installed``."""
    return lambda name: object() if name in installed else None


def test_nothing_is_missing_when_keras_and_the_backend_are_installed():
    find_spec = finder_of({"keras", "jax"})
    assert missing_training_packages("jax", find_spec) == []
    require_training_packages("jax", find_spec)


def test_a_missing_backend_is_named_with_the_extra_that_installs_it():
    find_spec = finder_of({"keras", "tensorflow"})
    assert missing_training_packages("torch", find_spec) == ["torch"]
    with pytest.raises(ClusterError, match=r"lacks torch .*pip install 'catdog-queue\[torch\]'"):
        require_training_packages("torch", find_spec)


def test_a_client_install_lacks_both_and_is_told_of_the_standing_cluster():
    with pytest.raises(ClusterError, match="lacks keras and tensorflow") as refused:
        require_training_packages("tensorflow", finder_of(set()))
    assert "--broker URL" in str(refused.value)
