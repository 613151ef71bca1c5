"""What FLCORE_MAX_ATTEMPTS means: how many times in a row a lost worker's execution is taken over
without a round completing in between (the count resets once one does)."""
from __future__ import annotations

from flcore.services.runner import count_loss


def _losses(progress: list[bool], max_attempts: int) -> list[bool]:
    """Whether each successive loss of a worker is taken over; ``progress``: a round completed before it."""
    allowed, count, out = True, 0, []
    for progressed in progress:
        allowed, count = count_loss(count, progressed=progressed, max_attempts=max_attempts)
        out.append(allowed)
        if not allowed:
            break
    return out


def test_max_attempts_takeovers_in_a_row_are_allowed_and_the_next_loss_fails():
    assert _losses([False] * 4, max_attempts=3) == [True, True, True, False]
    assert _losses([False], max_attempts=0) == [False]


def test_a_completed_round_resets_the_count():
    # A worker lost every few rounds of a long training: never more than one loss in a row.
    assert _losses([True] * 50, max_attempts=1) == [True] * 50
    assert _losses([False, False, True, False, False, False], max_attempts=3) == [True] * 5 + [False]
