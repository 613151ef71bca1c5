"""The adaptive idle poll of fedplane's SuperNode launcher and warm executor."""
from __future__ import annotations

from flcore.runtime.poll import AdaptivePoll
from flcore.runtime.supernode_main import _noting_work  # pylint: disable=protected-access


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fast_after_start_and_after_work_then_idle() -> None:
    clock = Clock()
    poll = AdaptivePoll(0.2, 3.0, 30.0, clock=clock)
    assert poll.interval == 0.2  # a node that just started is usually awaited
    clock.now += 31
    assert poll.interval == 3.0
    poll.worked()
    assert poll.interval == 0.2
    clock.now += 29
    assert poll.interval == 0.2


def test_an_idle_poll_below_the_fast_one_means_a_fixed_fast_poll() -> None:
    clock = Clock()
    poll = AdaptivePoll(0.2, 0.1, 30.0, clock=clock)
    clock.now += 60
    assert poll.interval == 0.2


def test_only_a_pull_that_brought_a_message_counts_as_work() -> None:
    clock = Clock()
    poll = AdaptivePoll(0.2, 3.0, 30.0, clock=clock)
    results = iter([None, 7])
    pull = _noting_work(lambda: next(results), poll)
    clock.now += 60
    assert pull() is None and poll.interval == 3.0
    assert pull() == 7 and poll.interval == 0.2
