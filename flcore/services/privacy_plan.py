"""Differential privacy for an execution: calibrated noise, Flower's DP wrapper, the ledger."""
from __future__ import annotations

import math

from ..models import ClientAssignment, TrainingExecution
from ..privacy import PrivacyLedger, wrap_with_dp

__all__ = ["apply_privacy", "dp_enabled"]


def dp_enabled(execution: TrainingExecution) -> bool:
    return bool((execution.privacy_config or {}).get("differential_privacy"))


def apply_privacy(execution: TrainingExecution, strategy):
    """(strategy, ledger): the strategy wrapped with server-side clipping and Gaussian noise
    calibrated so that all planned rounds fit in (epsilon, delta); the ledger is restored
    from the execution when it resumes, so rounds already run stay spent."""
    if not dp_enabled(execution):
        return strategy, None
    privacy = execution.privacy_config
    fraction = float(execution.config.get("clientFraction", 1.0))
    assigned = ClientAssignment.objects.filter(execution=execution).count()
    sampled = max(execution.min_clients, math.ceil(fraction * assigned))
    # The rate the accountant must assume is what is really sampled (minClients can raise it).
    rate = min(1.0, sampled / assigned) if assigned else 1.0
    if execution.privacy_ledger:
        ledger = PrivacyLedger.from_dict(execution.privacy_ledger)
    else:
        ledger = PrivacyLedger.plan(epsilon=float(privacy["epsilon"]), delta=float(privacy["delta"]),
                                    rounds=execution.total_rounds, sampling_rate=rate)
    wrapped = wrap_with_dp(strategy, noise_multiplier=ledger.noise_multiplier,
                           clipping_norm=float(privacy.get("clippingNorm", 1.0)), num_sampled_clients=sampled)
    return wrapped, ledger
