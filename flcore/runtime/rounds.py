"""One federated round driven with a message-API Flower strategy.

``Strategy.start`` has no per-round hook or stop check, so fedplane runs the steps
itself: configure_train -> exchange -> aggregate_train -> configure_evaluate ->
exchange -> aggregate_evaluate, and records what happened.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp.strategy import Strategy

from .discovery import reply_info
from flwr.serverapp.exception import AggregationError as FlowerAggregationError
from flwr.serverapp.exception import InconsistentMessageReplies

from ..strategies.errors import StrategyError
from .errors import AggregationFailed, ClientAppFailed, ClientDisconnected, TooManyFailures
from .grid import Exchange, ExchangeMixin
from .records import ClientUpdate, Metric, RoundRecord, RoundSettings, Straggler
from .screening import Rejection, screen

__all__ = ["Driver", "exchange_phase", "run_round", "stragglers_of", "updates_of"]

# A reply this much behind the phase's median (and at least as far again as the median
# itself) makes its node a straggler.
STRAGGLER_MIN_SECONDS = 1.0


class Driver(Protocol):
    """What the round loop needs from a claimed run (deployment or simulation)."""

    run_id: int
    node_configs: dict[int, dict[str, Any]]
    client_ids: set[str] | None

    @property
    def grid(self) -> ExchangeMixin: ...

    def wait_for_nodes(self, count: int, timeout: float) -> list[int]: ...

    def finish(self, status: str, details: str = "") -> None: ...


def updates_of(driver: Driver, exchange: Exchange,
               rejected: Mapping[int, Rejection] | None = None) -> list[ClientUpdate]:
    """Per-node results of one phase, attributed through the replies' node config."""
    updates = []
    for node, reply in exchange.answered:
        node_config, seconds = reply_info(reply)
        if node_config is not None:
            driver.node_configs[node] = node_config
        metrics: dict[str, Metric] = {}
        if not reply.has_error():
            metrics = dict(next(iter(reply.content.metric_records.values()), {}))
        examples = metrics.get("num-examples", 0)
        updates.append(
            ClientUpdate(
                node_id=node,
                node_config=driver.node_configs.get(node, {}),
                num_examples=int(examples) if isinstance(examples, int | float) else 0,
                metrics=metrics,
                seconds=seconds if seconds is not None else exchange.seconds[node],
                error=reply.error.reason if reply.has_error() else None,
                rejection=rejected[node].reason if rejected and node in rejected else None,
                size_bytes=0 if reply.has_error() else _array_bytes(reply),
            )
        )
    return updates


def _array_bytes(reply: Message) -> int:
    return sum(len(array.data) for record in reply.content.array_records.values() for array in record.values())


def stragglers_of(exchange: Exchange, phase: str, timeout: float,
                  node_configs: dict[int, dict[str, Any]] | None = None) -> list[Straggler]:
    """Nodes far behind the phase's median reply, and those still silent at the timeout."""
    if not exchange.seconds and not exchange.timed_out:
        return []
    median = statistics.median(exchange.seconds.values()) if exchange.seconds else 0.0
    slack = max(STRAGGLER_MIN_SECONDS, median)

    def partition(node: int) -> int | None:
        value = (node_configs or {}).get(node, {}).get("partition-id")
        return None if value is None else int(value)

    late = [Straggler(node, phase, round(seconds, 3), round(seconds - median, 3), False, partition(node))
            for node, seconds in sorted(exchange.seconds.items()) if seconds - median > slack]
    silent = [Straggler(node, phase, None, round(max(0.0, timeout - median), 3), True, partition(node))
              for node in sorted(exchange.timed_out)]
    return late + silent


def exchange_phase(
    driver: Driver,
    messages: list[Message],
    round_number: int,
    settings: RoundSettings,
) -> Exchange:
    """Send one phase's messages; fail if too few answered well or too many failed.

    ``settings.min_responders`` good replies are needed (fewer when the strategy sampled
    fewer on purpose), and at most ``accepted_failure_fraction`` of the sampled nodes
    may answer with an error or not at all.
    """
    for msg in messages:
        msg.metadata.group_id = str(round_number)  # the round, in SuperNode logs
        msg.metadata.ttl = settings.timeout  # nobody waits for a reply after the timeout
    exchange = driver.grid.exchange(messages, settings.timeout)
    errors = {n for n, r in exchange.answered if r.has_error()}
    ok = len(exchange.answered) - len(errors)
    failed = sorted(set(exchange.missing) | errors)
    required = min(settings.min_responders or 1, len(messages))
    cause: ClientDisconnected | None = None
    if ok < required:
        cause = ClientDisconnected(round_number, ok, required, failed)
    elif messages and len(failed) > settings.accepted_failure_fraction * len(messages):
        cause = TooManyFailures(round_number, len(failed), len(messages), settings.accepted_failure_fraction, failed)
    if cause is not None:
        raise _with_error_replies(cause, exchange, messages[0].metadata.message_type if messages else "")
    return exchange


def _listed(rejected: Mapping[int, Rejection]) -> list[dict]:
    return [{"nodeId": str(node), "reason": r.reason} for node, r in sorted(rejected.items())]


def _too_few_valid(round_number: int, train: Exchange, sampled: int, rejected: Mapping[int, Rejection],
                   settings: RoundSettings) -> AggregationFailed | None:
    """Screening took updates out: fail the round when too few valid ones remain (as for silence)."""
    if not rejected:
        return None
    errors = sum(1 for _, reply in train.answered if reply.has_error())
    valid = len(train.answered) - errors - len(rejected)
    failed = len(train.missing) + errors + len(rejected)
    required = min(settings.min_responders or 1, sampled)
    if valid >= required and failed <= settings.accepted_failure_fraction * sampled:
        return None
    listed = "; ".join(f"node {node}: {r.reason}" for node, r in sorted(rejected.items()))
    return AggregationFailed(
        f"round {round_number}: {len(rejected)} update(s) rejected, {valid} valid, {required} required "
        f"({failed} of {sampled} sampled failed, at most {settings.accepted_failure_fraction:.0%} may); {listed}",
        round_number=round_number, rejected=_listed(rejected),
        incompatible=all(r.incompatible for r in rejected.values()))


def _with_error_replies(cause: ClientDisconnected, exchange: Exchange, phase: str) -> ClientDisconnected:
    """Error replies are a cause a retry will not fix: say so (ClientAppFailed) rather than 'no reply'."""
    found = exchange.node_errors()
    result = ClientAppFailed.of(cause, phase, found, exchange.missing) if found else cause
    result.exchange = exchange
    return result


def _aggregate(driver: Driver, strategy: Strategy, round_number: int, arrays: ArrayRecord, train: Exchange,
               sampled: list[int], settings: RoundSettings,
               encryption: Any = None) -> tuple[ArrayRecord, Any, dict[int, Rejection]]:
    """Screen the train replies, then aggregate what is valid; a round that cannot give a model
    raises AggregationFailed with the round's updates (rejected ones too) for the record.
    With ``encryption`` (``encrypted.Encryption``) the updates are ciphertexts: it screens and adds them."""
    kept, rejected = encryption.screen(train.replies) if encryption else screen(train.replies, arrays)
    failure = _too_few_valid(round_number, train, len(sampled), rejected, settings)
    new_arrays, train_metrics = None, None
    if failure is None:
        try:
            new_arrays, train_metrics = (encryption.aggregate_train(strategy, round_number, kept) if encryption
                                         else strategy.aggregate_train(round_number, kept))
        except (StrategyError, FlowerAggregationError, InconsistentMessageReplies) as err:
            failure = AggregationFailed(f"round {round_number}: {err}", round_number=round_number,
                                        rejected=_listed(rejected),
                                        incompatible=isinstance(err, InconsistentMessageReplies))
    if new_arrays is None and failure is None:
        failed = sorted(set(train.missing) | {n for n, r in train.answered if r.has_error()})
        if failed:  # e.g. DP wrappers refuse a round that lost any sampled client
            ok = sum(1 for _, reply in train.answered if not reply.has_error())
            raise _with_error_replies(ClientDisconnected(round_number, ok, len(sampled), failed),
                                      train, "train")
        failure = AggregationFailed(f"round {round_number}: the strategy produced no model",
                                    round_number=round_number, rejected=_listed(rejected))
    if failure is not None:
        failure.partial = RoundRecord(
            run_id=driver.run_id, round_number=round_number, node_ids=sampled,
            train=updates_of(driver, train, rejected), evaluate=[], arrays={}, train_metrics={},
            evaluate_metrics={}, lost_node_ids=sorted(train.missing), settings=settings)
        raise failure
    return new_arrays, train_metrics, rejected


def run_round(  # pylint: disable=too-many-arguments
    driver: Driver,
    strategy: Strategy,
    round_number: int,
    arrays: ArrayRecord,
    *,
    min_clients: int,
    settings: RoundSettings,
    train_config: Mapping[str, Any],
    evaluate_config: Mapping[str, Any],
    connect_timeout: float,
    on_round_start: Callable[[int, list[int]], None] | None = None,
    encryption: Any = None,
) -> tuple[ArrayRecord, RoundRecord]:
    """One train + evaluate round; returns the new global arrays and its record.

    ``min_clients`` nodes must be connected before sampling; ``settings`` say how long a
    phase waits and how many replies it needs. ``on_round_start(round_number,
    sampled_node_ids)`` runs once nodes are sampled.
    """
    t0 = time.monotonic()
    # Strategies sample with their own minimums; wait for the largest one.
    need = max(
        min_clients, *(getattr(strategy, a, 0) for a in ("min_available_nodes", "min_train_nodes"))
    )
    driver.wait_for_nodes(need, connect_timeout)
    t_wait = time.monotonic()
    train_messages = list(
        strategy.configure_train(
            round_number, arrays, ConfigRecord(dict(train_config)), driver.grid  # type: ignore[arg-type]
        )
    )
    sampled = sorted(m.metadata.dst_node_id for m in train_messages)
    if on_round_start is not None:
        on_round_start(round_number, sampled)
    train = exchange_phase(driver, train_messages, round_number, settings)
    t_train = time.monotonic()
    new_arrays, train_metrics, rejected = _aggregate(driver, strategy, round_number, arrays, train, sampled, settings,
                                                       encryption)
    t_agg = time.monotonic()
    messages = list(
        strategy.configure_evaluate(
            round_number, new_arrays, ConfigRecord(dict(evaluate_config)), driver.grid  # type: ignore[arg-type]
        )
    )
    try:
        evaluate = exchange_phase(driver, messages, round_number, settings) if messages else Exchange()
    except ClientDisconnected as err:
        # Training went through: keep its updates (and the evaluate errors) for the failed round.
        failed = err.exchange or Exchange()
        err.partial = RoundRecord(
            run_id=driver.run_id, round_number=round_number, node_ids=sampled,
            train=updates_of(driver, train, rejected), evaluate=updates_of(driver, failed), arrays={},
            train_metrics=dict(train_metrics or {}), evaluate_metrics={},
            lost_node_ids=sorted(set(train.missing) | set(failed.missing)), settings=settings)
        raise
    evaluate_metrics = (
        strategy.aggregate_evaluate(round_number, evaluate.replies) if messages else None
    )
    t_end = time.monotonic()
    train_updates, evaluate_updates = updates_of(driver, train, rejected), updates_of(driver, evaluate)
    record = RoundRecord(
        run_id=driver.run_id,
        round_number=round_number,
        node_ids=sampled,
        train=train_updates,
        evaluate=evaluate_updates,
        arrays={key: array.numpy() for key, array in new_arrays.items()},
        train_metrics=dict(train_metrics or {}),
        evaluate_metrics=dict(evaluate_metrics or {}),
        lost_node_ids=sorted(set(train.missing) | set(evaluate.missing)),
        timings={
            "wait": t_wait - t0,
            "train": t_train - t_wait,
            "aggregate": t_agg - t_train,
            "evaluate": t_end - t_agg,
            "total": t_end - t0,
        },
        stragglers=stragglers_of(train, "train", settings.timeout, driver.node_configs)
        + stragglers_of(evaluate, "evaluate", settings.timeout, driver.node_configs),
        settings=settings,
    )
    return new_arrays, record
