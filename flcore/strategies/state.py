"""Checkpointable strategy state: FedOpt's optimiser moments survive a resume.

FedAdam/FedYogi/FedAdagrad keep ``m_t``, ``v_t`` and ``current_arrays`` on the
strategy object; a resumed run builds a new object, so without this the optimiser
restarts from zero moments and the next aggregate differs. The state is a flat
``{"<field>/<tensor>": ndarray}`` dict, ready for ``np.savez`` or safetensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from flwr.serverapp.strategy import Strategy
from flwr.serverapp.strategy.fedopt import FedOpt

from .errors import InvalidStrategyOptions

__all__ = ["restore_strategy_state", "strategy_state"]

_FIELDS = ("current_arrays", "m_t", "v_t")


def _unwrap(strategy: Strategy) -> Strategy:
    # Flower's DP wrappers hold the real strategy in ``.strategy``.
    while not isinstance(strategy, FedOpt) and isinstance(getattr(strategy, "strategy", None), Strategy):
        strategy = strategy.strategy  # type: ignore[attr-defined]
    return strategy


def strategy_state(strategy: Strategy) -> dict[str, np.ndarray]:
    """The arrays a resumed strategy needs; empty for stateless strategies."""
    inner = _unwrap(strategy)
    if not isinstance(inner, FedOpt):
        return {}
    state: dict[str, np.ndarray] = {}
    for field in _FIELDS:
        for name, value in (getattr(inner, field) or {}).items():
            state[f"{field}/{name}"] = np.asarray(value)
    return state


def restore_strategy_state(strategy: Strategy, state: Mapping[str, np.ndarray]) -> None:
    """Put ``strategy_state``'s output back into a freshly built strategy."""
    if not state:
        return
    inner = _unwrap(strategy)
    if not isinstance(inner, FedOpt):
        raise InvalidStrategyOptions(f"{type(inner).__name__} keeps no optimiser state to restore")
    grouped: dict[str, dict[str, np.ndarray]] = {field: {} for field in _FIELDS}
    for key, value in state.items():
        field, _, name = key.partition("/")
        if field not in grouped or not name:
            raise InvalidStrategyOptions(f"unexpected strategy state entry {key!r}")
        grouped[field][name] = np.array(value)  # writable copy: loaded arrays may be read-only views
    for field, arrays in grouped.items():
        setattr(inner, field, arrays or None)
