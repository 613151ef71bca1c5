"""Noise calibration, the privacy ledger and the DP wrapper helper (no Django)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping
from flwr.supercore.task_identity import TaskIdentity

from flcore.privacy import (
    PrivacyBudgetExceeded,
    PrivacyConfigError,
    PrivacyLedger,
    epsilon_after,
    noise_multiplier_for,
    wrap_with_dp,
)
from flcore.strategies import build_strategy


class FakeGrid:
    def get_node_ids(self) -> list[int]:
        return [1, 2, 3, 4]


@pytest.fixture
def task_identity() -> Iterator[None]:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]


def test_noise_multiplier_grows_as_epsilon_shrinks() -> None:
    budgets = [8.0, 2.0, 1.0, 0.5]
    z = [noise_multiplier_for(eps, 1e-5, rounds=20, sampling_rate=0.1) for eps in budgets]
    assert all(a < b for a, b in zip(z, z[1:])), z
    # Each one is tight: ε within budget, and 1% less noise would break it.
    for eps, zi in zip(budgets, z):
        assert epsilon_after(20, noise_multiplier=zi, sampling_rate=0.1, delta=1e-5) <= eps
        assert epsilon_after(20, noise_multiplier=zi * 0.99, sampling_rate=0.1, delta=1e-5) > eps


@pytest.mark.parametrize(("epsilon", "rounds", "rate"), [(1.0, 10, 1.0), (3.0, 12, 0.3), (0.5, 15, 0.05)])
def test_reported_epsilon_never_exceeds_budget(epsilon: float, rounds: int, rate: float) -> None:
    ledger = PrivacyLedger.plan(epsilon=epsilon, delta=1e-5, rounds=rounds, sampling_rate=rate)
    spent = [ledger.spend(k) for k in range(1, rounds + 1)]
    assert all(0 < a < b for a, b in zip(spent, spent[1:]))
    assert max(spent) <= epsilon and ledger.to_dict()["epsilon_spent"] <= epsilon
    assert spent[-1] > 0.98 * epsilon  # the plan uses the budget, not a fraction of it


def test_ledger_refuses_the_round_that_would_exceed() -> None:
    ledger = PrivacyLedger(epsilon=2.0, delta=1e-5, noise_multiplier=1.1, sampling_rate=0.2, rounds_planned=100)
    first_over = next(k for k in range(1, 1000) if ledger.epsilon_after(k) > 2.0)
    for k in range(1, first_over):
        assert ledger.can_run_round() and ledger.can_run_round(k)
        ledger.spend(k)
    assert ledger.rounds_spent == first_over - 1 and ledger.epsilon_spent <= 2.0
    assert not ledger.can_run_round() and not ledger.can_run_round(first_over)
    with pytest.raises(PrivacyBudgetExceeded):
        ledger.spend(first_over)
    assert ledger.rounds_spent == first_over - 1  # the refused round spent nothing


def test_a_round_rerun_after_resume_is_charged_again() -> None:
    ledger = PrivacyLedger(epsilon=5.0, delta=1e-5, noise_multiplier=3.0, sampling_rate=1.0, rounds_planned=10)
    for k in (1, 2, 3):
        ledger.spend(k)
    ledger.spend(3)  # resumed from the round-2 checkpoint: round 3 again is another release
    assert (ledger.rounds_spent, ledger.last_round) == (4, 3)
    assert ledger.epsilon_spent == pytest.approx(ledger.epsilon_after(4))


def test_ledger_round_trips_through_a_dict() -> None:
    ledger = PrivacyLedger.plan(epsilon=2.0, delta=1e-6, rounds=5, sampling_rate=1.0)
    for k in (1, 2, 3):
        ledger.spend(k)
    data = ledger.to_dict()
    assert set(data) >= {"epsilon", "delta", "noise_multiplier", "rounds_spent", "epsilon_spent", "epsilon_remaining"}
    again = PrivacyLedger.from_dict({**data, "epsilon_spent": 0.0})  # derived fields are recomputed
    assert again == ledger and again.epsilon_spent == pytest.approx(data["epsilon_spent"])
    assert again.can_run_round(5) and not again.can_run_round(6) and again.last_round == 3


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(PrivacyConfigError):
        noise_multiplier_for(0.0, 1e-5, rounds=10, sampling_rate=0.5)
    with pytest.raises(PrivacyConfigError):
        noise_multiplier_for(1.0, 1e-5, rounds=10, sampling_rate=1.5)
    with pytest.raises(PrivacyConfigError):  # noise after FedAdam's step protects nothing
        wrap_with_dp(build_strategy("fedopt", weights="uniform"), noise_multiplier=1, clipping_norm=1, num_sampled_clients=4)
    with pytest.raises(PrivacyConfigError):  # one client weighted above 1/n breaks the sensitivity
        wrap_with_dp(build_strategy("fedavg"), noise_multiplier=1, clipping_norm=1, num_sampled_clients=4)


@pytest.mark.usefixtures("task_identity")
def test_dp_wrapper_clips_each_update_before_the_kernel_averages() -> None:
    inner = build_strategy("fedavg", weights="uniform", options={"min_train_nodes": 4, "min_available_nodes": 4})
    strategy = wrap_with_dp(inner, noise_multiplier=0.0, clipping_norm=1.0, num_sampled_clients=4)
    assert isinstance(strategy, DifferentialPrivacyServerSideFixedClipping)
    start = {"w": np.zeros(100, np.float32)}
    messages = list(strategy.configure_train(1, ArrayRecord({"w": Array(start["w"])}), ConfigRecord(), FakeGrid()))
    scales = [0.05, 0.05, 0.05, 50.0]  # three small updates and one far beyond the clipping norm
    answers = [
        Message(RecordDict({"arrays": ArrayRecord({"w": Array(np.full(100, s, np.float32))}),
                            "metrics": MetricRecord({"num-examples": 10 * (i + 1)})}), reply_to=m)
        for i, (m, s) in enumerate(zip(messages, scales))
    ]  # fmt: skip
    arrays, _ = strategy.aggregate_train(1, answers)
    got = arrays["w"].numpy()
    # The big update is clipped to norm 1 (0.1 per coordinate); weights are uniform.
    np.testing.assert_allclose(got, (3 * 0.05 + 0.1) / 4, rtol=1e-5)
