"""What FLCORE_MAX_ATTEMPTS means: how many times in a row a lost worker's execution is taken over
without a round completing in between (the count resets once one does); and that a claim taken
over holds the execution no more."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flcore.choices import ExecutionStatus as S
from flcore.models import TrainingExecution
from flcore.services.runner import STALE_AFTER, count_loss


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


@pytest.mark.django_db
def test_a_claim_that_was_taken_over_holds_the_execution_no_more_and_cannot_end_it():
    """Two processes once ran one execution: a sweep took it over while its first claim still ran
    (a simulation's process was starting, silent), and the first kept recording rounds, then
    failed the execution the second held. The run loop stops, and records nothing more, once
    holds_claim is false; the heartbeat beats only for the claim that holds the execution."""
    from flcore.services.runner import _claim, finish, holds_claim

    silent = timezone.now() - STALE_AFTER - timedelta(seconds=1)
    execution = TrainingExecution.objects.create(model_type="classification", total_rounds=5, status=S.RUNNING,
                                                 celery_task_id="first", worker="a", heartbeat_at=silent)
    assert _claim(str(execution.pk), "second", "b") is not None  # the sweep's takeover
    assert holds_claim(execution.pk, "second") and not holds_claim(execution.pk, "first")
    finish(execution.pk, S.FAILED, error_code="FL003", error_message="the first claim's failure", owner="first")
    execution.refresh_from_db()
    assert (execution.status, execution.celery_task_id, execution.error_code) == (S.RUNNING, "second", "")
    finish(execution.pk, S.COMPLETED, owner="second")
    execution.refresh_from_db()
    assert execution.status == S.COMPLETED and not holds_claim(execution.pk, "second")
