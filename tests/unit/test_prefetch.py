"""Batches made ahead in a thread: the same items in order, errors raised, the wait counted."""

import pytest

from catdog_queue.training.prefetch import InputClock, prefetched


def test_yields_every_item_in_order_and_counts_them():
    clock = InputClock()
    assert list(prefetched(iter(range(50)), depth=3, clock=clock)) == list(range(50))
    assert clock.batches == 50 and clock.wait_seconds >= 0


def test_an_error_in_the_stream_is_raised_in_the_consumer():
    def failing():
        yield 1
        raise OSError("shard gone")

    stream = prefetched(failing())
    assert next(stream) == 1
    with pytest.raises(OSError, match="shard gone"):
        next(stream)


def test_nothing_is_read_before_the_first_item_is_asked_for():
    read = []

    def recording():
        for number in range(5):
            read.append(number)
            yield number

    stream = prefetched(recording())
    assert read == []
    assert next(stream) == 0
    stream.close()


def test_the_wait_share_is_the_wait_over_the_training_time():
    clock = InputClock()
    clock.wait_seconds = 2.0
    assert clock.describe(8.0) == {"input_wait_s": 2.0, "input_wait_share": 0.25}
    assert clock.describe(0.0)["input_wait_share"] is None


def test_a_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched(iter([1]), depth=0))
