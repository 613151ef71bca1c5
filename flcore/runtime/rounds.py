"""One federated round driven with a message-API Flower strategy.

``Strategy.start`` has no per-round hook or stop check, so fedplane runs the steps
itself: configure_train -> exchange -> aggregate_train -> configure_evaluate ->
exchange -> aggregate_evaluate, and records what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp.strategy import Strategy

from .discovery import reply_info
from .driver import FlowerDriver
from .errors import ClientDisconnected, FlowerRuntimeError
from .grid import Exchange
from .records import ClientUpdate, Metric, RoundRecord

__all__ = ["exchange_phase", "run_round", "updates_of"]


def updates_of(driver: FlowerDriver, exchange: Exchange) -> list[ClientUpdate]:
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
            )
        )
    return updates


def exchange_phase(
    driver: FlowerDriver,
    messages: list[Message],
    round_number: int,
    min_clients: int,
    timeout: float,
) -> Exchange:
    """Send one phase's messages; fail if fewer than ``min_clients`` answered well."""
    for msg in messages:
        msg.metadata.group_id = str(round_number)  # the round, in SuperNode logs
        msg.metadata.ttl = timeout  # nobody waits for a reply after the timeout
    exchange = driver.grid.exchange(messages, timeout)
    ok = [n for n, r in exchange.answered if not r.has_error()]
    required = min(min_clients, len(messages))  # a strategy may sample fewer on purpose
    if len(ok) < required:
        lost = sorted(set(exchange.lost) | {n for n, r in exchange.answered if r.has_error()})
        raise ClientDisconnected(round_number, len(ok), required, lost)
    return exchange


def run_round(  # pylint: disable=too-many-arguments
    driver: FlowerDriver,
    strategy: Strategy,
    round_number: int,
    arrays: ArrayRecord,
    *,
    min_clients: int,
    train_config: Mapping[str, Any],
    evaluate_config: Mapping[str, Any],
    connect_timeout: float,
    round_timeout: float,
    on_round_start: Callable[[int, list[int]], None] | None = None,
) -> tuple[ArrayRecord, RoundRecord]:
    """One train + evaluate round; returns the new global arrays and its record.

    ``on_round_start(round_number, sampled_node_ids)`` runs once nodes are sampled.
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
            round_number, arrays, ConfigRecord(dict(train_config)), driver.grid
        )
    )
    sampled = sorted(m.metadata.dst_node_id for m in train_messages)
    if on_round_start is not None:
        on_round_start(round_number, sampled)
    train = exchange_phase(driver, train_messages, round_number, min_clients, round_timeout)
    t_train = time.monotonic()
    new_arrays, train_metrics = strategy.aggregate_train(round_number, train.replies)
    if new_arrays is None:
        failed = sorted(set(train.lost) | {n for n, r in train.answered if r.has_error()})
        if failed:  # e.g. DP wrappers refuse a round that lost any sampled client
            ok = sum(1 for _, reply in train.answered if not reply.has_error())
            raise ClientDisconnected(round_number, ok, len(train_messages), failed)
        raise FlowerRuntimeError(f"round {round_number}: strategy produced no model")
    t_agg = time.monotonic()
    messages = list(
        strategy.configure_evaluate(
            round_number, new_arrays, ConfigRecord(dict(evaluate_config)), driver.grid
        )
    )
    evaluate = (
        exchange_phase(driver, messages, round_number, min_clients, round_timeout)
        if messages
        else Exchange()
    )
    evaluate_metrics = (
        strategy.aggregate_evaluate(round_number, evaluate.replies) if messages else None
    )
    t_end = time.monotonic()
    record = RoundRecord(
        run_id=driver.run_id,
        round_number=round_number,
        node_ids=sampled,
        train=updates_of(driver, train),
        evaluate=updates_of(driver, evaluate),
        arrays={key: array.numpy() for key, array in new_arrays.items()},
        train_metrics=dict(train_metrics or {}),
        evaluate_metrics=dict(evaluate_metrics or {}),
        lost_node_ids=sorted(set(train.lost) | set(evaluate.lost)),
        timings={
            "wait": t_wait - t0,
            "train": t_train - t_wait,
            "aggregate": t_agg - t_train,
            "evaluate": t_end - t_agg,
            "total": t_end - t0,
        },
    )
    return new_arrays, record
