"""Smoke tests of flcore.runtime against real Flower 1.41 processes (no Django).

A SuperLink and three SuperNodes, each with a non-IID slice of scikit-learn's
digits, run FedAvg through fedplane's driver. Every wait polls against a deadline;
every subprocess group is killed in fixture teardown.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli
from flwr.common.config import parse_config_args
from flwr.serverapp.strategy import FedAvg
from sklearn.datasets import load_digits

from flcore.runtime import (
    ClientDisconnected,
    ExecutionResult,
    InsufficientClients,
    RoundDirective,
    RoundRecord,
    SecureAggregation,
    SuperLinkProcess,
    SuperNodeProcess,
    run_execution,
    run_status,
    stop_run,
)
from flcore.runtime.fab import build_fab
from flcore.runtime.model import build_model, initial_arrays, load_data, train
from flcore.runtime.supernode import format_node_config

flower = pytest.mark.flower  # starts real Flower processes

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "input-dim": 64,
    "num-classes": 10,
    "hidden-dim": 32,
    "local-epochs": 2,
    "learning-rate": 0.1,
    "batch-size": 32,
    "seed": 0,
}
CLIENTS = ["client-0", "client-1", "client-2"]
Cluster = tuple[SuperLinkProcess, list[SuperNodeProcess]]


def write_slices(folder: Path, count: int) -> list[Path]:
    """Non-IID digits: 70% of a client's samples are its own classes (label % count)."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    parts: list[list[int]] = [[] for _ in range(count)]
    for owner in range(count):
        own = rng.permutation(np.flatnonzero(y % count == owner))
        keep = int(len(own) * 0.7)
        parts[owner] += own[:keep].tolist()
        others = [c for c in range(count) if c != owner]
        for other, chunk in zip(others, np.array_split(own[keep:], len(others)), strict=True):
            parts[other] += chunk.tolist()
    paths = []
    for i, idx in enumerate(parts):
        paths.append(folder / f"client-{i}.npz")
        np.savez(paths[-1], x=x[idx] / 16.0, y=y[idx])
    return paths


def test_node_config_survives_the_command_line() -> None:
    config: dict[str, str | int | bool] = {
        "fedplane-client-id": "a b",
        "data-path": "/d/x y.npz",
        "partition-id": 2,
        "on": True,
    }
    assert parse_config_args([format_node_config(config)]) == config


def test_fab_names_the_clientapp_and_holds_the_run_config() -> None:
    with zipfile.ZipFile(io.BytesIO(build_fab(CONFIG, clientapp="mine.client:app"))) as fab:
        app = tomli.loads(fab.read("pyproject.toml").decode())["tool"]["flwr"]["app"]
    assert app["components"]["clientapp"] == "mine.client:app"
    assert app["config"] == CONFIG


def test_csv_data_and_fedprox_proximal_term(tmp_path: Path) -> None:
    x, y = load_digits(return_X_y=True)
    path = tmp_path / "local.csv"
    header = ",".join([*(f"p{i}" for i in range(64)), "label"])
    np.savetxt(
        path, np.column_stack([x[:300] / 16.0, y[:300]]), delimiter=",", header=header, comments=""
    )
    data = load_data(path, CONFIG)
    assert data.x_train.shape[1] == 64 and len(data.y_eval) == 60

    def drift(mu: float) -> float:
        model = build_model(CONFIG)
        start = [p.detach().clone() for p in model.parameters()]
        train(model, data, {**CONFIG, "proximal-mu": mu})
        end = [p.detach() for p in model.parameters()]
        return float(sum((e - s).pow(2).sum() for e, s in zip(end, start, strict=True)))

    assert drift(10.0) < drift(0.0)  # the proximal term pulls towards the global model


@contextmanager
def cluster(folder: Path, clients: int, warm: bool) -> Iterator[Cluster]:
    """SuperLink + one SuperNode per data slice; all process groups killed on exit."""
    env = {"FLWR_HOME": str(folder / "flwr-home"), "PYTHONPATH": str(REPO)}
    with ExitStack() as stack:
        link = stack.enter_context(SuperLinkProcess(log_path=folder / "superlink.log", env=env))
        link.start()
        nodes = []
        for i, path in enumerate(write_slices(folder, clients)):
            config: dict[str, str | int] = {
                "partition-id": i,
                "data-path": str(path),
                "fedplane-client-id": f"client-{i}",
            }
            log = folder / f"node-{i}.log"
            node = SuperNodeProcess(link.fleet_address, config, log_path=log, env=env, warm=warm)
            nodes.append(stack.enter_context(node))
        for node in nodes:
            node.start()
        yield link, nodes


@pytest.fixture(scope="module")
def warm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("warm"), 3, warm=True) as started:
        yield started


def execute(link: SuperLinkProcess, rounds: int, **options: Any) -> ExecutionResult:
    """FedAvg over ``rounds`` with the test config; ``options`` override the defaults."""
    options = {
        "initial_arrays": initial_arrays(CONFIG),
        "min_clients": 3,
        "connect_timeout": 60.0,
        "round_timeout": 120.0,
        **options,
    }
    strategy = FedAvg(
        min_available_nodes=options["min_clients"], min_train_nodes=1, min_evaluate_nodes=1
    )
    return run_execution(
        superlink=link.address, strategy=strategy, num_rounds=rounds, run_config=CONFIG, **options
    )


def check_three_rounds(link: SuperLinkProcess) -> None:
    records: list[RoundRecord] = []
    started: list[tuple[int, list[int]]] = []
    run_ids: list[int] = []
    result = execute(
        link,
        3,
        on_round=lambda record, _accepted: records.append(record),
        on_round_start=lambda n, nodes: started.append((n, nodes)),
        on_run_started=run_ids.append,
    )
    assert result.status == "completed" and result.last_round == 3
    assert run_ids == [result.run_id]
    assert [r.round_number for r in records] == [1, 2, 3]
    assert started == [(r.round_number, r.node_ids) for r in records]
    for record in records:
        assert sorted(str(u.client_id) for u in record.train) == CLIENTS
        assert sorted(str(u.client_id) for u in record.evaluate) == CLIENTS
        assert all(u.num_examples > 0 and u.error is None for u in record.train)
        assert set(record.arrays) == set(initial_arrays(CONFIG).keys())
    accuracy = [float(r.evaluate_metrics["eval-accuracy"]) for r in records]  # type: ignore[arg-type]
    assert accuracy[2] > accuracy[0] + 0.2, accuracy
    assert run_status(link.address, result.run_id)[:2] == ("finished", "completed")


@flower
@pytest.mark.slow  # ~2 min: a ClientApp process per message; run with -m slow
@pytest.mark.timeout(600)
def test_fedavg_three_rounds_stock_supernodes(tmp_path: Path) -> None:
    """Stock SuperNodes (a flwr-clientapp process per message), as on remote machines."""
    with cluster(tmp_path, 3, warm=False) as (link, _nodes):
        check_three_rounds(link)


@flower
@pytest.mark.timeout(600)
def test_fedavg_three_rounds_warm_executor(warm_cluster: Cluster) -> None:
    check_three_rounds(warm_cluster[0])


@flower
@pytest.mark.timeout(600)
def test_stop_between_rounds_then_resume(warm_cluster: Cluster) -> None:
    link = warm_cluster[0]
    records: list[RoundRecord] = []
    stopped = execute(
        link, 3, on_round=lambda r, _ok: records.append(r), should_stop=lambda: bool(records)
    )
    assert stopped.status == "stopped" and stopped.last_round == 1 and len(records) == 1
    assert run_status(link.address, stopped.run_id)[:2] == ("finished", "stopped")
    # Resume from checkpoint 1: a new run, starting from round 1's arrays.
    resumed = execute(link, 2, initial_arrays=stopped.arrays, round_offset=1)
    assert [r.round_number for r in resumed.rounds] == [2]


@flower
@pytest.mark.timeout(600)
def test_rejected_round_keeps_previous_model(warm_cluster: Cluster) -> None:
    verdicts: list[bool] = []
    result = execute(
        warm_cluster[0],
        2,
        accept_round=lambda r: r.round_number == 1,
        on_round=lambda _r, accepted: verdicts.append(accepted),
    )
    assert verdicts == [True, False]
    first = result.rounds[0].arrays
    assert all(np.array_equal(result.arrays[k], first[k]) for k in first)


@flower
@pytest.mark.timeout(600)
def test_stop_through_control_api(warm_cluster: Cluster) -> None:
    link = warm_cluster[0]
    result = execute(link, 3, on_round=lambda r, _ok: stop_run(link.address, r.run_id))
    assert result.status == "stopped" and result.last_round == 1


@flower
@pytest.mark.timeout(600)
def test_sampling_restricted_to_given_clients(warm_cluster: Cluster) -> None:
    result = execute(warm_cluster[0], 1, client_ids=["client-0", "client-2"], min_clients=2)
    assert sorted(str(u.client_id) for u in result.rounds[0].train) == ["client-0", "client-2"]


@flower
@pytest.mark.timeout(600)
def test_round_directive_aggregates_only_the_triggered_clients(warm_cluster: Cluster) -> None:
    """A manual trigger for round 2 names one client: only it trains and is aggregated,
    although the execution asks for three; rounds 1 and 3 are back to all three."""
    directives = {2: RoundDirective(client_ids=frozenset({"client-1"}), wait_for_all=True)}
    result = execute(warm_cluster[0], 3, round_directive=directives.get)
    trained = [sorted(str(u.client_id) for u in r.train) for r in result.rounds]
    assert trained == [CLIENTS, ["client-1"], CLIENTS]


@flower
@pytest.mark.timeout(600)
def test_secure_aggregation_yields_the_weighted_mean_of_masked_updates(warm_cluster: Cluster) -> None:
    """SecAgg+: each node sends only a masked update, yet the unmasked sum is exactly
    the example-weighted mean (up to quantisation), and every client is accounted for."""
    from .secure_probe_app import contribution

    result = execute(warm_cluster[0], 1, clientapp="tests.flcore.secure_probe_app:app",
                     secure=SecureAggregation())
    parts = [contribution(i) for i in range(3)]
    expected = sum(v * n for v, n in parts) / sum(n for _, n in parts)
    for record in result.rounds:
        for name, array in record.arrays.items():
            assert np.allclose(array, expected, atol=1e-3), (name, array.ravel()[:3], expected)
        assert sorted(u.num_examples for u in record.train) == [100, 200, 300]
        assert sorted(str(u.client_id) for u in record.train) == CLIENTS
        assert record.train_metrics["secure-aggregation"] == 1
        assert len(record.evaluate) == 3


@flower
@pytest.mark.timeout(600)
def test_min_clients_timeout(warm_cluster: Cluster) -> None:
    link = warm_cluster[0]
    with pytest.raises(InsufficientClients):
        execute(link, 1, min_clients=4, connect_timeout=3.0)


@flower
@pytest.mark.timeout(600)
def test_client_dies_mid_round(tmp_path: Path) -> None:
    """A killed SuperNode stays 'online' until its heartbeat lapses (about 60 s), so it
    is sampled and never replies: the round completes on the others if at least
    min_clients replied, else fails with ClientDisconnected."""
    with cluster(tmp_path, 4, warm=True) as (link, nodes):
        execute(link, 1)  # warm-up: first messages pay imports and FAB installs
        result = execute(link, 2, on_round=lambda _r, _ok: nodes[3].kill(), round_timeout=20.0)
        assert result.status == "completed"
        assert len([u for u in result.rounds[1].train if u.error is None]) == 3
        assert result.rounds[1].lost_node_ids == [nodes[3].node_id]
        nodes[2].kill()  # now only two of the four can reply
        with pytest.raises(ClientDisconnected):
            execute(link, 1, round_timeout=20.0)
