"""One federated round with SecAgg+: the server learns only the weighted sum of updates.

Flower 1.41 runs SecAgg+ (``SecAggPlusWorkflow``, ``secaggplus_mod`` on the clients)
only on its legacy strategy stack, so the train phase here drives that workflow over
fedplane's grid with a legacy FedAvg; the evaluate phase is the message API's, as in
``rounds.run_round`` (evaluation results are not secret). The ClientApp must apply
``secaggplus_mod`` to its train handler (fedplane's ``flcore.runtime.app:secure_app``).

What the server sees per client: that it took part, its number of examples and its
training metrics. Never its model update.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, RecordDict
from flwr.common import parameters_to_ndarrays
from flwr.compat.common.recorddict_compat import arrayrecord_to_parameters
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.server_config import ServerConfig
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp.strategy import Strategy

from .discovery import discover
from .errors import ClientDisconnected, FlowerRuntimeError
from .grid import Exchange
from .records import ClientUpdate, RoundRecord, RoundSettings
from .rounds import Driver, exchange_phase, stragglers_of, updates_of

__all__ = ["SecureAggregation", "run_secure_round"]


@dataclass(frozen=True)
class SecureAggregation:
    """SecAgg+ parameters (see ``SecAggPlusWorkflow``).

    ``num_shares``/``reconstruction_threshold``: an int is a count of clients, a float
    a share of the sampled ones. The defaults share every client's secrets with all
    others and need two thirds of them to unmask: one of three may drop out.
    """

    num_shares: int | float = 1.0
    reconstruction_threshold: int | float = 0.67
    clipping_range: float = 8.0  # parameters are clipped to +-this before quantisation
    max_weight: float = 10_000.0  # a client's weight is num_examples / this (at most 1)


class _CapturingFedAvg(LegacyFedAvg):
    """Legacy FedAvg that keeps what the workflow handed it: the unmasked sum arrives
    as every client's parameters, so averaging returns it unchanged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.captured: list[tuple[int, Any]] | None = None  # (node id, FitRes)
        self.failures = 0

    def aggregate_fit(self, server_round, results, failures):  # type: ignore[no-untyped-def]
        self.captured = [(int(proxy.node_id), fit) for proxy, fit in results]
        self.failures = len(failures)
        return super().aggregate_fit(server_round, results, failures)


def _legacy_context(driver: Driver, arrays: ArrayRecord, round_number: int, strategy: LegacyFedAvg,
                    node_ids: list[int]) -> LegacyContext:
    manager = SimpleClientManager()
    for node in node_ids:
        manager.register(GridClientProxy(node, driver.grid, driver.run_id))
    base = Context(run_id=driver.run_id, node_id=0, node_config={}, state=RecordDict(), run_config={})
    context = LegacyContext(base, config=ServerConfig(num_rounds=round_number), strategy=strategy,
                            client_manager=manager)
    context.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord(dict(arrays.items()))  # the workflow rebinds it
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {Key.CURRENT_ROUND: round_number, Key.START_TIME: time.time()})
    return context


def _named(template: ArrayRecord, context: LegacyContext) -> ArrayRecord:
    """The workflow's result (legacy, unnamed) under the global model's tensor names."""
    parameters = arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    ndarrays = parameters_to_ndarrays(parameters)
    if len(ndarrays) != len(template):
        raise FlowerRuntimeError(f"SecAgg+ returned {len(ndarrays)} tensors, the model has {len(template)}")
    return ArrayRecord({key: Array.from_numpy_ndarray(value.reshape(template[key].shape))
                        for key, value in zip(template.keys(), ndarrays, strict=True)})


def run_secure_round(  # pylint: disable=too-many-arguments,too-many-locals
    driver: Driver,
    strategy: Strategy,
    round_number: int,
    arrays: ArrayRecord,
    *,
    secure: SecureAggregation,
    min_clients: int,
    settings: RoundSettings,
    fraction: float,
    evaluate_config: Mapping[str, Any],
    connect_timeout: float,
    on_round_start: Callable[[int, list[int]], None] | None = None,
) -> tuple[ArrayRecord, RoundRecord]:
    """Train with SecAgg+ over the allowed nodes, evaluate with ``strategy``."""
    t0 = time.monotonic()
    nodes = driver.wait_for_nodes(max(min_clients, 3), connect_timeout)
    unknown = set(nodes) - driver.node_configs.keys()
    if unknown:  # replies carry no node config through SecAgg+: ask once, before the round
        driver.node_configs.update(discover(driver.grid, unknown, connect_timeout))
    t_wait = time.monotonic()
    legacy = _CapturingFedAvg(fraction_fit=fraction, fraction_evaluate=0.0, min_fit_clients=min_clients,
                              min_evaluate_clients=0, min_available_clients=min_clients)
    context = _legacy_context(driver, arrays, round_number, legacy, nodes)
    if on_round_start is not None:
        on_round_start(round_number, nodes)
    workflow = SecAggPlusWorkflow(num_shares=secure.num_shares, reconstruction_threshold=secure.reconstruction_threshold,
                                  clipping_range=secure.clipping_range, max_weight=secure.max_weight,
                                  timeout=settings.timeout)
    workflow(driver.grid, context)
    required = settings.min_responders or min_clients
    if legacy.captured is None or len(legacy.captured) < required:
        replied = len(legacy.captured or [])
        raise ClientDisconnected(round_number, replied, required, [])
    new_arrays = _named(arrays, context)
    t_train = time.monotonic()
    train_seconds = t_train - t_wait
    train = [ClientUpdate(node_id=node, node_config=driver.node_configs.get(node, {}), num_examples=int(fit.num_examples),
                          metrics={**dict(fit.metrics), "num-examples": int(fit.num_examples)}, seconds=train_seconds)
             for node, fit in legacy.captured]
    train_metrics = _weighted_metrics(train)
    messages = list(strategy.configure_evaluate(round_number, new_arrays, ConfigRecord(dict(evaluate_config)),
                                                driver.grid))
    evaluate = exchange_phase(driver, messages, round_number, settings) if messages else Exchange()
    evaluate_metrics = strategy.aggregate_evaluate(round_number, evaluate.replies) if messages else None
    t_end = time.monotonic()
    sampled = sorted(node for node, _ in legacy.captured)
    record = RoundRecord(
        run_id=driver.run_id, round_number=round_number, node_ids=sampled, train=train,
        evaluate=updates_of(driver, evaluate), arrays={key: a.numpy() for key, a in new_arrays.items()},
        train_metrics={**train_metrics, "secure-aggregation": 1},
        evaluate_metrics=dict(evaluate_metrics or {}),
        lost_node_ids=sorted((set(nodes) - set(sampled) if fraction >= 1.0 else set()) | set(evaluate.missing)),
        timings={"wait": t_wait - t0, "train": train_seconds, "aggregate": 0.0, "evaluate": t_end - t_train,
                 "total": t_end - t0},
        stragglers=stragglers_of(evaluate, "evaluate", settings.timeout, driver.node_configs),
        settings=settings)
    return new_arrays, record


def _weighted_metrics(updates: list[ClientUpdate]) -> dict[str, float]:
    """Training metrics averaged by examples, as Flower's message strategies report them."""
    total = sum(u.num_examples for u in updates) or 1
    keys = {k for u in updates for k, v in u.metrics.items() if isinstance(v, int | float) and k != "num-examples"}
    return {k: sum(float(u.metrics.get(k, 0.0)) * u.num_examples for u in updates) / total  # type: ignore[arg-type]
            for k in sorted(keys)}
