"""Seconds per round through fedplane against plain Flower (a benchmark, not a test).

One SuperLink and N warm SuperNodes on this host serve both sides, alternately:

- **flower**: Flower's own round loop, ``FedAvg.start(grid, ...)``, on a run claimed
  by fedplane's driver (so both sides poll the SuperLink equally fast);
- **fedplane**: an execution created through the service layer and run by the
  Celery task body (eager), with everything a user gets: database rows for every
  round and client update, events, checkpoints with sha256, strategy state, metrics.

Both use the same FAB run config (model, local epochs, learning rate) and the same
clients. A round is measured start to start (rounds 2..N), so it includes whatever
each side does between rounds.

    python bench/round_overhead/run.py --clients 3 --rounds 6 --repeats 2

Embedded default (SQLite under a temporary var dir); set DATABASE_URL to measure on
PostgreSQL. Target (issue 3): overhead under 10% or 50 ms per round, whichever is larger.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
os.environ.setdefault("FEDPLANE_VAR_DIR", tempfile.mkdtemp(prefix="fedplane-bench-round-"))
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # the task body runs here, timed with the rest

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from flwr.app import ConfigRecord  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from flcore.models import TrainingExecution  # noqa: E402
from flcore.runtime import FlowerDriver, SuperLinkProcess, SuperNodeProcess, build_fab  # noqa: E402
from flcore.runtime.model import initial_arrays  # noqa: E402
from flcore.services.clients import client_register  # noqa: E402
from flcore.services.executions import execution_create  # noqa: E402
from flcore.services.training_plan import run_config_of  # noqa: E402

CONFIG = {"minClients": 3, "clientFraction": 1.0, "localEpochs": 1, "batchSize": 32, "learningRate": 0.1,
          "inputDim": 64, "numClasses": 10, "roundTimeoutSeconds": 60, "connectTimeoutSeconds": 60}


class TimedFedAvg(FedAvg):
    """Stock FedAvg that notes when each round starts."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.round_starts: list[float] = []

    def configure_train(self, server_round, arrays, config, grid):
        self.round_starts.append(time.monotonic())
        return super().configure_train(server_round, arrays, config, grid)


def start_cluster(folder: Path, client_ids: list[str]) -> tuple[SuperLinkProcess, list[SuperNodeProcess]]:
    env = {"FLWR_HOME": str(folder / "flwr-home"), "PYTHONPATH": str(REPO)}
    x, y = load_digits(return_X_y=True)
    link = SuperLinkProcess(log_path=folder / "superlink.log", env=env)
    link.start()
    nodes = []
    for i, part in enumerate(np.array_split(np.random.default_rng(0).permutation(len(y)), len(client_ids))):
        path = folder / f"{i}.npz"
        np.savez(path, x=x[part] / 16.0, y=y[part])
        node = SuperNodeProcess(link.fleet_address, {"fedplane-client-id": client_ids[i], "data-path": str(path)},
                                log_path=folder / f"node-{i}.log", env=env, warm=True)
        node.start()
        nodes.append(node)
    return link, nodes


def per_round(starts: list[float]) -> list[float]:
    return [b - a for a, b in zip(starts, starts[1:])]


def run_flower(link: SuperLinkProcess, client_ids: list[str], run_config: dict, rounds: int) -> list[float]:
    n = len(client_ids)
    strategy = TimedFedAvg(min_available_nodes=n, min_train_nodes=n, min_evaluate_nodes=n)
    with FlowerDriver(link.address, client_ids=client_ids) as driver:
        driver.start(build_fab(run_config))
        driver.wait_for_nodes(n, 60)
        strategy.start(grid=driver.grid, initial_arrays=initial_arrays(run_config),
                       num_rounds=rounds, train_config=ConfigRecord({}), evaluate_config=ConfigRecord({}))
    return per_round(strategy.round_starts)


def run_fedplane(user, client_ids: list[str], rounds: int) -> list[float]:
    execution = execution_create(user=user, model_type="classification", algorithm="fedavg",
                                 config={**CONFIG, "rounds": rounds, "minClients": len(client_ids)},
                                 client_ids=client_ids)  # the eager task runs on commit
    execution.refresh_from_db()
    if execution.status != "completed":
        raise RuntimeError(f"fedplane execution ended {execution.status}: {execution.error_message}")
    starts = [r.started_at.timestamp() for r in execution.rounds.order_by("round_number")]
    return per_round(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password=None)
    client_ids = [str(client_register(owner=user, name=f"bench-{i}").pk) for i in range(args.clients)]
    folder = Path(settings.VAR_DIR) / "cluster"
    link, nodes = start_cluster(folder, client_ids)
    settings.FLOWER_SUPERLINK_ADDRESS = link.address
    probe = TrainingExecution(config={**CONFIG, "rounds": args.rounds}, algorithm="fedavg")
    run_config = run_config_of(probe)
    print(f"{args.clients} warm SuperNodes, {args.rounds} rounds x {args.repeats} repeats, "
          f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    seconds: dict[str, list[float]] = {"flower": [], "fedplane": []}
    try:
        for repeat in range(args.repeats):
            for side in ("flower", "fedplane") if repeat % 2 == 0 else ("fedplane", "flower"):
                rounds = (run_flower(link, client_ids, run_config, args.rounds) if side == "flower"
                          else run_fedplane(user, client_ids, args.rounds))
                seconds[side] += rounds
                print(f"  {side:8s} repeat {repeat + 1}: " + " ".join(f"{s:.3f}" for s in rounds))
    finally:
        for node in nodes:
            node.stop()
        link.stop()
    flower, fedplane = (statistics.median(seconds[s]) for s in ("flower", "fedplane"))
    overhead = fedplane - flower
    allowed = max(0.10 * flower, 0.050)
    print(f"\nmedian seconds per round: flower {flower:.3f}  fedplane {fedplane:.3f}")
    print(f"overhead {overhead * 1000:+.0f} ms/round ({overhead / flower:+.1%}); "
          f"target under {allowed * 1000:.0f} ms: {'met' if overhead < allowed else 'NOT met'}")


if __name__ == "__main__":
    main()
