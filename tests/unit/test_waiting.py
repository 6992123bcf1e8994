"""shared/waiting.py: the one poll-until-true loop, its bound and its early stop."""

import pytest

from catdog_queue.shared.waiting import wait_until


def test_a_condition_that_holds_returns_at_once_without_waiting():
    waits = []
    assert wait_until(lambda: True, timeout_s=10, on_wait=lambda: waits.append(1)) is True
    assert waits == []


def test_polls_until_the_condition_holds():
    polls = []

    def third_time_lucky():
        polls.append(1)
        return len(polls) == 3

    assert wait_until(third_time_lucky, timeout_s=30, interval_s=0.001) is True
    assert len(polls) == 3


def test_a_condition_that_never_holds_returns_false_after_polling_more_than_once():
    polls = []
    assert wait_until(lambda: polls.append(1), timeout_s=0.02, interval_s=0.001) is False
    assert len(polls) >= 2


def test_on_wait_can_stop_the_wait_by_raising():
    def died():
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        wait_until(lambda: False, timeout_s=30, on_wait=died)
