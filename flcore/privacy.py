"""Differential privacy for an execution: calibrate noise from (ε, δ), track spending.

Accounting is client-level RDP (``dp_accounting.rdp.RdpAccountant``) of one Poisson
subsampled Gaussian release per round, add-or-remove-one neighbours: the noise
multiplier z is the noise standard deviation over the clipping norm on the *sum* of
clipped updates, which is what Flower's DP wrappers add to the uniform mean
(σ = z·C/n). Flower samples a fixed number of clients without replacement, so the
Poisson amplification is the usual DP-FedAvg approximation; with sampling_rate 1.0
(every client every round) no amplification is claimed and nothing is approximated.
Plain Python: no Django imports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

import dp_accounting
from dp_accounting.rdp import RdpAccountant
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)
from flwr.serverapp.strategy.fedopt import FedOpt

from flcore.strategies import KernelAggregation, UniformWeights

__all__ = [
    "PrivacyBudgetExceeded",
    "PrivacyConfigError",
    "PrivacyLedger",
    "epsilon_after",
    "noise_multiplier_for",
    "wrap_with_dp",
]

# Integer orders only: dp-accounting's fractional orders fail to converge (and are
# dropped with a warning) at large sampling rates and cost ~40x more; the cost of an
# integer order grows with it, hence the sparse tail. The bound is a little looser,
# never lower, than with dp-accounting's default grid.
RDP_ORDERS = (*range(2, 33), 40, 48, 56, 64, 80, 96, 128, 192, 256)


class PrivacyConfigError(ValueError):
    """Privacy settings that cannot give the promised guarantee."""


class PrivacyBudgetExceeded(RuntimeError):
    """Running the round would spend more than the ε budget (the service maps it to FL007)."""


def _round_event(noise_multiplier: float, sampling_rate: float) -> dp_accounting.DpEvent:
    return dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier))


@lru_cache(maxsize=1024)  # a ledger asks the same questions before and after each round
def epsilon_after(rounds: int, *, noise_multiplier: float, sampling_rate: float, delta: float) -> float:
    """ε spent at ``delta`` after ``rounds`` rounds (0.0 for none)."""
    if rounds <= 0:
        return 0.0
    accountant = RdpAccountant(RDP_ORDERS)
    accountant.compose(_round_event(noise_multiplier, sampling_rate), rounds)
    return float(accountant.get_epsilon(delta))


def _check(epsilon: float, delta: float, rounds: int, sampling_rate: float) -> None:
    if not epsilon > 0 or not 0 < delta < 1 or rounds < 1 or not 0 < sampling_rate <= 1:
        raise PrivacyConfigError(
            f"need epsilon > 0, 0 < delta < 1, rounds >= 1, 0 < sampling_rate <= 1; "
            f"got {epsilon}, {delta}, {rounds}, {sampling_rate}"
        )


def noise_multiplier_for(
    epsilon: float, delta: float, rounds: int, sampling_rate: float, *, tol: float = 1e-4
) -> float:
    """Smallest noise multiplier (within ``tol``) whose ε after ``rounds`` is ≤ ``epsilon``.

    dp-accounting's calibration brackets the root, then runs Brent's method with a
    bisection fallback that only ever returns a point on the feasible side.
    """
    _check(epsilon, delta, rounds, sampling_rate)
    z = float(
        dp_accounting.calibrate_dp_mechanism(
            lambda: RdpAccountant(RDP_ORDERS),
            lambda z: dp_accounting.SelfComposedDpEvent(_round_event(z, sampling_rate), rounds),
            epsilon,
            delta,
            dp_accounting.LowerEndpointAndGuess(0.0, 1.0),
            tol=tol,
        )
    )
    spent = epsilon_after(rounds, noise_multiplier=z, sampling_rate=sampling_rate, delta=delta)
    if spent > epsilon:  # the library promises otherwise; never hand out an over-budget plan
        raise PrivacyConfigError(f"calibration gave z={z} spending {spent} > {epsilon}")
    return z


@dataclass
class PrivacyLedger:
    """An execution's privacy budget and what it has spent; stored as a JSON dict.

    ``rounds_spent`` counts noisy aggregates released, not round numbers: a round
    run again after a resume from an earlier checkpoint is a new release and is
    charged again (its first result already reached the clients' evaluation).
    """

    epsilon: float  # the budget
    delta: float
    noise_multiplier: float
    sampling_rate: float  # clients sampled per round / clients that may be sampled
    rounds_planned: int
    rounds_spent: int = 0
    last_round: int = 0  # round number of the last charged release, for display

    @classmethod
    def plan(cls, *, epsilon: float, delta: float, rounds: int, sampling_rate: float) -> PrivacyLedger:
        """Calibrate the noise so that all ``rounds`` fit in the budget."""
        z = noise_multiplier_for(epsilon, delta, rounds, sampling_rate)
        return cls(epsilon, delta, z, sampling_rate, rounds_planned=rounds)

    def epsilon_after(self, rounds: int) -> float:
        """ε spent after ``rounds`` releases with this ledger's noise and sampling."""
        return epsilon_after(rounds, noise_multiplier=self.noise_multiplier, sampling_rate=self.sampling_rate,
                             delta=self.delta)  # fmt: skip

    @property
    def epsilon_spent(self) -> float:
        """ε spent by the rounds charged so far."""
        return self.epsilon_after(self.rounds_spent)

    def can_run_round(self, k: int | None = None) -> bool:
        """Whether a k-th charged round (default: the next, ``rounds_spent + 1``) fits the budget."""
        return self.epsilon_after(self.rounds_spent + 1 if k is None else k) <= self.epsilon

    def spend(self, round_number: int | None = None) -> float:
        """Charge one round (``round_number`` is kept for display); returns ε spent.

        Raises ``PrivacyBudgetExceeded``, charging nothing, if it would not fit.
        """
        if not self.can_run_round():
            raise PrivacyBudgetExceeded(
                f"round {round_number or self.rounds_spent + 1} would spend "
                f"ε={self.epsilon_after(self.rounds_spent + 1):.4g} > budget {self.epsilon:.4g}"
            )
        self.rounds_spent += 1
        self.last_round = round_number if round_number is not None else self.last_round + 1
        return self.epsilon_spent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state plus derived figures (ε spent, remaining) for the API."""
        spent = self.epsilon_spent
        return {**asdict(self), "epsilon_spent": spent, "epsilon_remaining": max(self.epsilon - spent, 0.0),
                "accountant": "rdp", "sampling": "poisson"}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyLedger:
        """Inverse of ``to_dict`` (derived fields are recomputed, not trusted)."""
        return cls(float(data["epsilon"]), float(data["delta"]), float(data["noise_multiplier"]),
                   float(data["sampling_rate"]), int(data["rounds_planned"]), int(data.get("rounds_spent", 0)),
                   int(data.get("last_round", 0)))  # fmt: skip


def wrap_with_dp(
    strategy: Strategy,
    *,
    noise_multiplier: float,
    clipping_norm: float,
    num_sampled_clients: int,
    clipping: Literal["server", "client"] = "server",
) -> Strategy:
    """Wrap ``strategy`` in Flower's fixed-clipping DP wrapper.

    Refuses what would void the ledger's guarantee: FedOpt (Flower adds the noise
    after the optimiser step, so m_t/v_t see clean aggregates) and non-uniform
    weights (a client weighted wᵢ > 1/n moves the mean by more than C/n). Client-side
    clipping needs Flower's ``fixedclipping_mod`` on every ClientApp.
    """
    if isinstance(strategy, FedOpt):
        raise PrivacyConfigError("DP noise is added after FedOpt's server optimiser step: use fedavg or fedprox")
    if not (isinstance(strategy, KernelAggregation) and isinstance(strategy.weighting, UniformWeights)):
        raise PrivacyConfigError("DP needs uniform client weights (build the strategy with weights='uniform')")
    wrapper = {"server": DifferentialPrivacyServerSideFixedClipping, "client": DifferentialPrivacyClientSideFixedClipping}
    if clipping not in wrapper:
        raise PrivacyConfigError(f"clipping must be 'server' or 'client', got {clipping!r}")
    return wrapper[clipping](strategy, noise_multiplier, clipping_norm, num_sampled_clients)
