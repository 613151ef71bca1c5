"""Updates are screened before aggregation, and divergence is told from a bad round (no processes)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Error, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from flcore.runtime.grid import Exchange
from flcore.runtime.records import RoundSettings
from flcore.runtime.rounds import _too_few_valid
from flcore.runtime.screening import screen
from flcore.services.divergence import diverged

MODEL = {"w": np.ones((3, 2), np.float32), "b": np.zeros(3, np.float32)}


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]


def _reply(node: int, arrays: dict[str, np.ndarray] | None, *, records: int = 1, error: bool = False) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node, message_type="train")
    if error:
        return Message(Error(code=2, reason="it raised"), reply_to=instruction)
    content = RecordDict({"metrics": MetricRecord({"num-examples": 5})})
    for i in range(records):
        content[f"arrays{i}"] = ArrayRecord({k: Array(v) for k, v in (arrays or {}).items()})
    return Message(content, reply_to=instruction)  # from the node the instruction went to


def test_screening_keeps_valid_and_error_replies_and_says_why_it_rejects_the_rest() -> None:
    reference = ArrayRecord({k: Array(v) for k, v in MODEL.items()})
    nan = {**MODEL, "w": np.array([[1, np.nan], [np.inf, 1], [1, -np.inf]], np.float32)}
    replies = [
        _reply(1, MODEL),
        _reply(2, nan),
        _reply(3, {**MODEL, "w": np.ones((2, 3), np.float32)}),
        _reply(4, {**MODEL, "b": np.zeros(3, np.float64)}),
        _reply(5, {"w": MODEL["w"], "extra": np.ones(1, np.float32)}),
        _reply(6, MODEL, records=2),
        _reply(7, None, error=True),
    ]
    kept, rejected = screen(replies, reference)
    assert [r.metadata.src_node_id for r in kept] == [1, 7]
    assert rejected[2].reason == "array 'w' has 3 non-finite value(s) (NaN or Inf)" and not rejected[2].incompatible
    assert rejected[3].reason == "array 'w' has shape (2, 3), expected (3, 2)" and rejected[3].incompatible
    assert rejected[4].reason == "array 'b' has dtype float64, expected float32" and rejected[4].incompatible
    assert rejected[5].reason == "missing arrays ['b']; unexpected arrays ['extra']"
    assert rejected[6].reason == "2 ArrayRecords in the reply, expected 1"


def test_a_large_fortran_ordered_update_is_checked_without_a_copy_of_its_size() -> None:
    big = np.asfortranarray(np.ones((1500, 1000), np.float32))
    big[1499, 999] = np.nan  # in the last chunk
    reference = ArrayRecord({"big": Array(np.ones((1500, 1000), np.float32))})
    _, rejected = screen([_reply(1, {"big": big})], reference)
    assert rejected[1].reason == "array 'big' has 1 non-finite value(s) (NaN or Inf)"


@pytest.mark.parametrize(("losses", "expected"), [
    ([2.0, 1.0, 0.8], None),
    ([2.0, 1.0, 2.5, 2.6], None),  # above 2x the best for 2 rounds, 3 needed
    ([2.0, 1.0, 2.5, 2.6, 2.7], "the loss stayed above 2 x its best (1) for 3 rounds, now 2.7"),
    ([2.0, 1.0, 2.5, 1.5, 2.7], None),  # the streak broke
    ([1.0, float("nan")], "the loss is nan"),
    ([1.0, float("inf")], "the loss is inf"),
    ([float("nan")], "the loss is nan"),
])
def test_divergence_is_a_non_finite_loss_or_k_rounds_above_factor_times_the_best(losses, expected) -> None:
    assert diverged(losses, factor=2.0, rounds=3) == expected


def test_too_few_valid_updates_fail_the_round_fl006_when_none_fits_the_model_else_fl004() -> None:
    """What the runner maps to FL006 (every rejection structural) or FL004 (unusable values)."""
    reference = ArrayRecord({k: Array(v) for k, v in MODEL.items()})
    wrong_shape = {**MODEL, "w": np.ones((2, 3), np.float32)}
    nan = {**MODEL, "b": np.full(3, np.nan, np.float32)}
    settings = RoundSettings(min_responders=2)

    def failure(*updates):
        replies = [_reply(node, arrays) for node, arrays in enumerate(updates, start=1)]
        exchange = Exchange(answered=[(r.metadata.src_node_id, r) for r in replies])
        return _too_few_valid(1, exchange, len(replies), screen(replies, reference)[1], settings)

    assert failure(MODEL, MODEL, nan) is None  # two valid: the round goes on without node 3
    structural = failure(MODEL, wrong_shape)
    assert structural.incompatible and structural.details()["rejectedUpdates"] == [
        {"nodeId": "2", "reason": "array 'w' has shape (2, 3), expected (3, 2)"}]
    assert not failure(MODEL, nan).incompatible
    assert not failure(wrong_shape, nan).incompatible  # one unusable value is enough for FL004
