"""Homomorphic-encryption rounds: the aggregator averages CKKS ciphertexts it cannot read.

The round is the message API's (``rounds.run_round``); what changes is what travels and what
the server does with it. The global model is sent as ciphertext chunks (``flcore.he``), each
client decrypts it with the secret context it holds, trains, and answers with its new weights
encrypted. Screening checks what can be checked without the secret key (the chunks' names,
sizes, and that each parses as a ciphertext of this context holding the expected number of
values), then ``aggregate_train`` multiplies each update by its plaintext share
(``num-examples`` over the total, the strategy's weighting) and adds the products. The result
is the next global model, still encrypted: the worker holds only the public context.

The ClientApp must speak this (``flcore.runtime.he_app:app``); it finds the context id and the
layout in every message's config (``he-context-id``, ``he-layout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flwr.app import Array, ArrayRecord, Message, MetricRecord

from .. import he
from ..strategies.errors import StrategyError
from .screening import Rejection

__all__ = ["Encryption", "EncryptedAggregationError"]


class EncryptedAggregationError(StrategyError):
    """Ciphertexts that passed screening could not be combined (e.g. another context's)."""


def _record(chunks: dict[str, Any]) -> ArrayRecord:
    return ArrayRecord({name: Array.from_numpy_ndarray(data) for name, data in chunks.items()})


@dataclass(frozen=True)
class Encryption:
    """What the aggregating side gets: the public context, the model's layout, the context's id."""

    public_context: bytes
    layout: he.Layout
    context_id: str
    coefficient_primes: int = 4
    poly_modulus_degree: int = 8192

    @cached_property
    def context(self):  # loaded once per run; the public key can encrypt and add, not decrypt
        context = he.load_context(self.public_context)
        if context.is_private():
            raise ValueError("the aggregator was handed a secret context: refusing to use it")
        return context

    @property
    def max_chunk_bytes(self) -> int:
        """A fresh ciphertext's bound: two polynomials of the ring, 8 bytes per prime, plus headers."""
        return 2 * self.poly_modulus_degree * self.coefficient_primes * 8 + 4096

    def message_config(self) -> dict[str, str]:
        return {"he-context-id": self.context_id, "he-layout": self.layout.to_json()}

    def prepare(self, arrays: ArrayRecord) -> ArrayRecord:
        """The initial global model as ciphertexts (a resumed one already is)."""
        if he.is_encrypted(arrays):
            return arrays
        return _record(he.encrypt(self.context, {k: a.numpy() for k, a in arrays.items()}, self.layout))

    def screen(self, replies: list[Message]) -> tuple[list[Message], dict[int, Rejection]]:
        """Like ``screening.screen``, on what a ciphertext shows: structure and size, not values."""
        kept, rejected = [], {}
        for reply in replies:
            reason = None if reply.has_error() else self._check(reply)
            if reason is None:
                kept.append(reply)
            else:
                rejected[reply.metadata.src_node_id] = Rejection(reason, True)
        return kept, rejected

    def _check(self, reply: Message) -> str | None:
        records = list(reply.content.array_records.values())
        if len(records) != 1:
            return f"{len(records)} ArrayRecords in the reply, expected 1"
        chunks = {name: array.numpy() for name, array in records[0].items()}
        return he.check_chunks(self.context, chunks, self.layout, self.max_chunk_bytes)

    def aggregate_train(self, strategy, server_round: int,
                        replies: list[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The weighted mean of the encrypted updates, weights from the strategy (plaintext shares)."""
        valid, _ = strategy._check_and_log_replies(replies, is_train=True)  # pylint: disable=protected-access
        if not valid:
            return None, None
        contents = [msg.content for msg in valid]
        weights = strategy.current_weighting()([next(iter(c.metric_records.values())) for c in contents])
        total = float(sum(weights))
        if total <= 0:
            raise EncryptedAggregationError(f"round {server_round}: client weights sum to {total}")
        updates = [{n: a.numpy() for n, a in next(iter(c.array_records.values())).items()} for c in contents]
        try:
            chunks = he.weighted_sum(self.context, updates, [w / total for w in weights], self.layout)
        except (ValueError, RuntimeError) as err:
            raise EncryptedAggregationError(f"round {server_round}: ciphertexts do not add up: {err}") from err
        strategy.last_weights = {m.metadata.src_node_id: w / total for m, w in zip(valid, weights)}
        return _record(chunks), strategy.train_metrics_aggr_fn(contents, strategy.weighted_by_key)
