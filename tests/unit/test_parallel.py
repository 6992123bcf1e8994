"""Choosing the devices a job trains on, and batches that split evenly across them."""

import contextlib
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from catdog_queue.shared.settings import SettingError, parse_train_devices
from catdog_queue.training.parallel import (
    Placement,
    check_batch_size,
    choose_devices,
    devices_for_batch,
    pad_batch,
    pad_fit_arguments,
    pad_part,
    place,
)

GPUS = ["gpu:0", "gpu:1", "gpu:2"]
CPUS = ["cpu:0", "cpu:1"]


def test_the_devices_setting_reads_auto_a_gpu_count_or_cpu_devices():
    assert parse_train_devices("") == ("auto", None)
    assert parse_train_devices(" AUTO ") == ("auto", None)
    assert parse_train_devices("2") == ("gpu", 2)
    assert parse_train_devices("gpu:3") == ("gpu", 3)
    assert parse_train_devices("cpu:2") == ("cpu", 2)


@pytest.mark.parametrize("text", ["0", "cpu:0", "-1", "two", "tpu:2", "cpu:", "1.5"])
def test_a_bad_devices_setting_is_refused_with_what_it_takes(text):
    with pytest.raises(SettingError, match=r"CATDOG_TRAIN_DEVICES must be .*received"):
        parse_train_devices(text)


def test_auto_takes_every_gpu_when_there_are_several_else_one_device():
    assert choose_devices(("auto", None), GPUS, CPUS) == GPUS
    assert choose_devices(("auto", None), GPUS[:1], CPUS) == ["gpu:0"]
    assert choose_devices(("auto", None), [], CPUS) == ["cpu:0"]
    assert choose_devices(("auto", None), GPUS, CPUS, forced_cpu=True) == ["cpu:0"]


def test_a_count_takes_the_first_devices_of_its_kind():
    assert choose_devices(("gpu", 2), GPUS, CPUS) == ["gpu:0", "gpu:1"]
    assert choose_devices(("cpu", 2), GPUS, CPUS) == CPUS
    assert choose_devices(("cpu", 2), [], CPUS, forced_cpu=True) == CPUS
    assert choose_devices(("gpu", 2), GPUS, CPUS, forced_cpu=True) == ["cpu:0"]  # --device cpu


def test_more_devices_than_the_backend_sees_is_refused_by_count():
    with pytest.raises(ValueError, match=r"asks for 2 GPU devices, but the backend sees 0"):
        choose_devices(("gpu", 2), [], CPUS)
    with pytest.raises(ValueError, match=r"asks for 3 CPU .* sees 2 \(cpu:0, cpu:1\)"):
        choose_devices(("cpu", 3), GPUS, CPUS)


def test_the_batch_must_split_evenly_across_replicas():
    check_batch_size(7, 1)
    check_batch_size(32, 2)
    with pytest.raises(ValueError, match=r"--batch-size 32 does not split evenly across 3.*33"):
        check_batch_size(32, 3)


def test_auto_trains_on_as_many_devices_as_the_batch_splits_evenly_across():
    assert devices_for_batch(GPUS, 128) == ["gpu:0", "gpu:1"]
    assert devices_for_batch(GPUS, 96) == GPUS
    assert devices_for_batch(GPUS, 7) == ["gpu:0"]
    assert devices_for_batch(["cpu:0"], 7) == ["cpu:0"]


def test_a_placement_describes_what_trained():
    single = Placement(["cpu:0"])
    assert single.replicas == 1 and single.describe() == {
        "count": 1, "names": ["cpu:0"], "strategy": "single", "note": None,
    }  # fmt: skip
    assert Placement(CPUS, "data_parallel").replicas == 2


def test_a_last_batch_that_does_not_split_takes_a_few_images_twice():
    pixels, targets = np.arange(21).reshape(21, 1), np.arange(21)
    padded_pixels, padded_targets = pad_part(pixels, targets, 8, 2)
    assert len(padded_pixels) == 22 and (padded_targets[:21] == targets).all()
    assert padded_targets[21] == 0  # the first image again, not a blank one
    assert (
        len(pad_part(pixels, targets, 8, 4)[0]) == 24
        and len(pad_part(pixels, targets, 7, 2)[0]) == 21
    )


def test_a_streamed_batch_is_topped_up_with_its_own_images():
    pixels, targets = pad_batch((np.arange(3), np.arange(3) * 10), 4)
    assert pixels.tolist() == [0, 1, 2, 0] and targets.tolist() == [0, 10, 20, 0]
    one = pad_batch((np.arange(1), np.arange(1)), 2)
    assert one[0].tolist() == [0, 0]
    even = (np.arange(4), np.arange(4))
    assert pad_batch(even, 2)[0] is even[0]


def test_fit_arguments_in_memory_are_padded_only_for_several_replicas():
    pixels, targets = np.zeros((21, 2)), np.zeros((21, 2))
    arguments = {
        "x": pixels,
        "y": targets,
        "batch_size": 8,
        "validation_data": (pixels[:5], targets[:5]),
    }
    assert pad_fit_arguments(arguments, 1) is arguments
    padded = pad_fit_arguments(arguments, 2)
    assert len(padded["x"]) == len(padded["y"]) == 22
    assert [len(part) for part in padded["validation_data"]] == [6, 6]


def test_streamed_fit_arguments_are_padded_batch_by_batch():
    from catdog_queue.training.feeds import SequentialBatches

    def batches():
        yield np.zeros((4, 2)), np.zeros((4, 2))
        yield np.zeros((3, 2)), np.zeros((3, 2))

    validation = SequentialBatches(batches, 2)
    padded = pad_fit_arguments({"x": batches(), "validation_data": validation}, 2)
    assert [len(pixels) for pixels, _ in padded["x"]] == [4, 4]
    assert len(padded["validation_data"]) == 2
    assert [len(padded["validation_data"][index][0]) for index in range(2)] == [4, 4]


def test_torch_trains_on_one_device_and_says_so(monkeypatch):
    no_gpu = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", no_gpu)
    placement = place("torch", ("gpu", 2), False, contextlib.nullcontext, 128)
    described = placement.describe()
    assert described["names"] == ["cpu"] and described["strategy"] == "single"
    assert "one device" in described["note"] and placement.replicas == 1


def test_auto_on_three_gpus_with_a_batch_of_128_trains_on_two_and_says_why(monkeypatch):
    from catdog_queue.training import parallel

    monkeypatch.setattr(parallel, "available_devices", lambda backend: (GPUS, CPUS))
    monkeypatch.setattr(parallel, "_tensorflow_scope", lambda devices: contextlib.nullcontext)
    placement = place("tensorflow", ("auto", None), False, contextlib.nullcontext, 128)
    assert placement.devices == GPUS[:2] and placement.strategy == "mirrored"
    assert placement.replicas == 2 and "across 2 of 3 devices" in placement.note
    asked = place("tensorflow", ("gpu", 3), False, contextlib.nullcontext, 128)
    assert asked.devices == GPUS and asked.note is None  # checked, and refused, by the plan
