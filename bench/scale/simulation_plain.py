"""The plain-Flower side of ``bench/scale/simulation.py``: one ``run_simulation`` in its own process.

Part of ``bench/scale`` (a benchmark, never a test). Run by simulation.py as a child
process (a fresh one per run, as fedplane's Celery worker takes a fresh child per
execution), never imported by it:

    python -m bench.scale.simulation_plain --n 10 --rounds 5 --partition-dir DIR \
        --run-config '{"input-dim": 64, ...}' --out result.json

``flwr.simulation.run_simulation(server_app, client_app, num_supernodes=N,
backend_config={"client_resources": ...})`` with a ServerApp whose main runs Flower's
own ``FedAvg.start`` (fractions 1.0, minimums N). Plain ``run_simulation`` gives the
ClientApps an empty ``context.run_config``, so the run config (model, local epochs,
batch size, learning rate, ``partition-dir``) travels in the messages' ConfigRecord;
fedplane's ClientApps merge it over the run config, so the same ClientApp serves both.
Writes a JSON document with a timestamp per phase boundary of every round, the replies
seen (count, errors, partition ids) and the Ray cluster, plus the final model (.npz).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

STARTED = time.monotonic()

import numpy as np  # noqa: E402
from flwr.app import ConfigRecord, Context  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402
from flwr.supercore.object_ref import load_app  # noqa: E402

REPLY_INFO_KEY = "fedplane"  # flcore.runtime.records.REPLY_INFO_KEY: {"node-config": json, "seconds": float}


def _partitions(replies: list[Any]) -> tuple[int, int, list[int]]:
    """(good replies, error replies, partition ids of the good ones)."""
    good, errors, partitions = 0, 0, []
    for reply in replies:
        if reply.has_error():
            errors += 1
            continue
        good += 1
        info = reply.content.config_records.get(REPLY_INFO_KEY)
        if info is not None:
            node_config = json.loads(str(info["node-config"]))
            if "partition-id" in node_config:
                partitions.append(int(node_config["partition-id"]))
    return good, errors, partitions


class TimedFedAvg(FedAvg):
    """Stock FedAvg that notes when each step of a round starts and ends (time.monotonic)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marks: list[dict[str, float]] = []
        self.replies: list[dict[str, Any]] = []
        self.cluster: dict[str, float] = {}

    def configure_train(self, server_round, arrays, config, grid):  # type: ignore[no-untyped-def]
        self.marks.append({"round": server_round, "configure_train": time.monotonic()})
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):  # type: ignore[no-untyped-def]
        replies = list(replies)
        self.marks[-1]["aggregate_train"] = time.monotonic()
        good, errors, partitions = _partitions(replies)
        self.replies.append({"round": server_round, "phase": "train", "good": good, "errors": errors,
                             "partitions": sorted(partitions)})
        try:
            return super().aggregate_train(server_round, replies)
        finally:
            self.marks[-1]["aggregated_train"] = time.monotonic()

    def aggregate_evaluate(self, server_round, replies):  # type: ignore[no-untyped-def]
        replies = list(replies)
        self.marks[-1]["aggregate_evaluate"] = time.monotonic()
        good, errors, partitions = _partitions(replies)
        self.replies.append({"round": server_round, "phase": "evaluate", "good": good, "errors": errors,
                             "partitions": sorted(partitions)})
        try:
            return super().aggregate_evaluate(server_round, replies)
        finally:
            self.marks[-1]["end"] = time.monotonic()
            if not self.cluster:
                import ray

                self.cluster = {k: float(v) for k, v in ray.cluster_resources().items()
                                if k in ("CPU", "GPU", "memory")}


def simulate(*, n: int, rounds: int, partition_dir: str, run_config: dict[str, Any],
             clientapp: str = "flcore.runtime.app:app", num_cpus: float = 1.0, num_gpus: float = 0.0,
             pull_interval: float | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One plain ``run_simulation``: (timings and replies as JSON-able data, final arrays)."""
    from flcore.runtime.model import initial_arrays

    run_config = {**run_config, "partition-dir": partition_dir}
    client_app = load_app(clientapp, RuntimeError)
    strategy = TimedFedAvg(fraction_train=1.0, fraction_evaluate=1.0, min_train_nodes=n,
                           min_evaluate_nodes=n, min_available_nodes=n)
    outcome: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def _main(grid: Grid, _context: Context) -> None:
        if pull_interval is not None:
            grid.pull_interval = pull_interval  # type: ignore[attr-defined]
        result = strategy.start(grid=grid, initial_arrays=initial_arrays(run_config), num_rounds=rounds,
                                train_config=ConfigRecord(run_config), evaluate_config=ConfigRecord(run_config))
        outcome["arrays"] = {key: array.numpy() for key, array in result.arrays.items()}

    began = time.monotonic()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=n,
                   backend_config={"client_resources": {"num_cpus": num_cpus, "num_gpus": num_gpus}})
    ended = time.monotonic()
    marks = strategy.marks
    return ({"n": n, "rounds": rounds, "marks": marks, "replies": strategy.replies, "cluster": strategy.cluster,
             "completed": "arrays" in outcome, "import_seconds": began - STARTED,
             "startup_seconds": marks[0]["configure_train"] - began if marks else None,
             "shutdown_seconds": ended - marks[-1].get("end", ended) if marks else None,
             "wall_seconds": ended - began}, outcome.get("arrays", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description="plain Flower run_simulation, timed per round")
    parser.add_argument("--n", type=int, required=True, help="virtual SuperNodes")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--partition-dir", required=True, help="partition-<i>.npz for i in 0..N-1")
    parser.add_argument("--run-config", required=True, help="JSON: the run config fedplane's execution gets")
    parser.add_argument("--clientapp", default="flcore.runtime.app:app")
    parser.add_argument("--num-cpus", type=float, default=1.0)
    parser.add_argument("--num-gpus", type=float, default=0.0)
    parser.add_argument("--pull-interval", type=float, default=None,
                        help="InMemoryGrid's pull interval (Flower's default 0.1 s; fedplane's SimulationGrid polls"
                             " every 0.05 s): for experiments only")
    parser.add_argument("--out", required=True, help="JSON result file; the final model goes to <out>.npz")
    args = parser.parse_args()
    doc, arrays = simulate(n=args.n, rounds=args.rounds, partition_dir=args.partition_dir,
                           run_config=json.loads(args.run_config), clientapp=args.clientapp, num_cpus=args.num_cpus,
                           num_gpus=args.num_gpus, pull_interval=args.pull_interval)
    if arrays:
        np.savez(args.out + ".npz", **arrays)
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(doc, stream)


if __name__ == "__main__":
    main()
