"""Checkpointable strategy state: server optimisers survive a resume.

FedAdam/FedYogi/FedAdagrad keep ``m_t``, ``v_t`` and ``current_arrays`` on the
strategy object, FedAvgM its ``momentum_vector``; a resumed run builds a new object,
so without this the optimiser restarts from zero and the next aggregate differs. The
state is a flat ``{"<field>/<tensor>": ndarray}`` dict (``"<field>/#<i>"`` for a list),
ready for ``np.savez`` or safetensors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from flwr.serverapp.strategy import FedAvgM, Strategy
from flwr.serverapp.strategy.fedopt import FedOpt

from .errors import InvalidStrategyOptions

__all__ = ["restore_strategy_state", "state_fields", "strategy_state"]

log = logging.getLogger(__name__)


def state_fields(strategy: Strategy) -> tuple[str, ...]:
    """The attributes that carry the strategy's state from one round to the next."""
    if isinstance(strategy, FedOpt):
        return ("current_arrays", "m_t", "v_t")
    if isinstance(strategy, FedAvgM):
        return ("momentum_vector",)
    return ()


def _unwrap(strategy: Strategy) -> Strategy:
    # Flower's DP wrappers hold the real strategy in ``.strategy``.
    while not state_fields(strategy) and isinstance(getattr(strategy, "strategy", None), Strategy):
        strategy = strategy.strategy  # type: ignore[attr-defined]
    return strategy


def strategy_state(strategy: Strategy) -> dict[str, np.ndarray]:
    """The arrays a resumed strategy needs; empty for stateless strategies."""
    inner = _unwrap(strategy)
    state: dict[str, np.ndarray] = {}
    for name in state_fields(inner):
        value = getattr(inner, name)
        items = enumerate(value) if isinstance(value, list) else (value or {}).items()
        for key, array in items:
            state[f"{name}/#{key}" if isinstance(value, list) else f"{name}/{key}"] = np.asarray(array)
    return state


def restore_strategy_state(strategy: Strategy, state: Mapping[str, np.ndarray]) -> None:
    """Put ``strategy_state``'s output back into a freshly built strategy.

    State saved by another kind of strategy (the execution switched strategies between
    runs) is left out: the new strategy starts its optimiser afresh.
    """
    if not state:
        return
    inner = _unwrap(strategy)
    fields = state_fields(inner)
    if {key.partition("/")[0] for key in state} - set(fields):
        log.warning("checkpoint state %s does not fit %s: its optimiser starts afresh",
                    sorted({key.partition("/")[0] for key in state}), type(inner).__name__)
        return
    grouped: dict[str, dict[str, np.ndarray]] = {name: {} for name in fields}
    for key, value in state.items():
        name, _, tensor = key.partition("/")
        if not tensor:
            raise InvalidStrategyOptions(f"unexpected strategy state entry {key!r}")
        grouped[name][tensor] = np.array(value)  # writable copy: loaded arrays may be read-only views
    for name, arrays in grouped.items():
        if arrays and all(key.startswith("#") for key in arrays):
            setattr(inner, name, [arrays[key] for key in sorted(arrays, key=lambda k: int(k[1:]))])
        else:
            setattr(inner, name, arrays or None)
