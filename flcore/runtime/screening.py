"""Screen training replies before the strategy sees them.

An update must carry one ArrayRecord with exactly the global model's keys, each array
of the same shape and dtype, every value finite. Anything else is rejected with a
reason the control plane records on the update; it never reaches the average, where
one NaN would poison every coordinate it touches and a wrong shape would fail the
whole round. A finite but hostile update (large random values) passes: that is the
robust strategies' job (Krum, FedMedian, FedTrimmedAvg, Bulyan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, Message

from ..strategies.arrays import array_view

__all__ = ["Rejection", "screen"]

# Finite-ness is checked this many elements at a time, so a large tensor needs no full-size mask.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Rejection:
    """Why an update was kept out. ``incompatible``: its structure does not fit the model (FL006);
    otherwise its values are unusable (FL004)."""

    reason: str
    incompatible: bool


def _non_finite(array: np.ndarray) -> int:
    if not np.issubdtype(array.dtype, np.inexact):
        return 0
    flat = array.reshape(-1, order="A")  # a view for C- and Fortran-ordered arrays alike
    return sum(int(flat[i:i + _CHUNK].size - np.count_nonzero(np.isfinite(flat[i:i + _CHUNK])))
               for i in range(0, flat.size, _CHUNK))


def _check(reply: Message, reference: ArrayRecord) -> Rejection | None:
    records = list(reply.content.array_records.values())
    if len(records) != 1:
        return Rejection(f"{len(records)} ArrayRecords in the reply, expected 1", True)
    arrays = records[0]
    missing, unexpected = sorted(set(reference) - set(arrays)), sorted(set(arrays) - set(reference))
    if missing or unexpected:
        parts = ([f"missing arrays {missing}"] if missing else []) + (
            [f"unexpected arrays {unexpected}"] if unexpected else [])
        return Rejection("; ".join(parts), True)
    for key, expected in reference.items():
        got = arrays[key]
        if tuple(got.shape) != tuple(expected.shape):
            return Rejection(f"array {key!r} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}", True)
        if got.dtype != expected.dtype:
            return Rejection(f"array {key!r} has dtype {got.dtype}, expected {expected.dtype}", True)
    for key in reference:
        try:
            bad = _non_finite(array_view(arrays[key]))
        except Exception as err:  # noqa: BLE001 -- bytes that do not parse are the client's fault, not ours
            return Rejection(f"array {key!r} cannot be read: {err}", True)
        if bad:
            return Rejection(f"array {key!r} has {bad} non-finite value(s) (NaN or Inf)", False)
    return None


def screen(replies: list[Message], reference: ArrayRecord) -> tuple[list[Message], dict[int, Rejection]]:
    """The replies fit for aggregation (error replies pass through: the strategy skips them), and
    the rejected ones by node id."""
    kept: list[Message] = []
    rejected: dict[int, Rejection] = {}
    for reply in replies:
        rejection = None if reply.has_error() else _check(reply, reference)
        if rejection is None:
            kept.append(reply)
        else:
            rejected[reply.metadata.src_node_id] = rejection
    return kept, rejected
