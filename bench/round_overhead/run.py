"""Measure fedplane's per-round time on Flower 1.41 (a benchmark, not a test).

Starts a SuperLink and N SuperNodes on this host (stock: a ``flwr-clientapp``
process per message; warm: fedplane's long-lived executor), runs FedAvg with the
default MLP on digits slices, prints each round's phase timings and a summary.

    python bench/round_overhead/run.py --clients 3 --rounds 5 --mode stock warm
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from flwr.serverapp.strategy import FedAvg
from sklearn.datasets import load_digits

from flcore.runtime import RoundRecord, SuperLinkProcess, SuperNodeProcess, run_execution
from flcore.runtime.model import initial_arrays

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"input-dim": 64, "num-classes": 10, "hidden-dim": 32, "learning-rate": 0.1}


def measure(mode: str, clients: int, rounds: int) -> list[RoundRecord]:
    """Start a fresh SuperLink + ``clients`` SuperNodes and run ``rounds`` rounds."""
    folder = Path(tempfile.mkdtemp(prefix=f"fedplane-bench-{mode}-"))
    env = {"FLWR_HOME": str(folder / "flwr-home"), "PYTHONPATH": str(REPO)}
    x, y = load_digits(return_X_y=True)
    link = SuperLinkProcess(log_path=folder / "superlink.log", env=env)
    nodes: list[SuperNodeProcess] = []
    try:
        started = time.monotonic()
        link.start()
        for i, part in enumerate(
            np.array_split(np.random.default_rng(0).permutation(len(y)), clients)
        ):
            np.savez(folder / f"{i}.npz", x=x[part] / 16.0, y=y[part])
            config = {"data-path": str(folder / f"{i}.npz"), "fedplane-client-id": f"c{i}"}
            log = folder / f"node-{i}.log"
            nodes.append(
                SuperNodeProcess(link.address, config, log_path=log, env=env, warm=mode == "warm")
            )
        for node in nodes:
            node.start()
        print(
            f"[{mode}] SuperLink + {clients} SuperNodes ready in {time.monotonic() - started:.1f}s"
        )
        records: list[RoundRecord] = []
        strategy = FedAvg(
            min_available_nodes=clients, min_train_nodes=clients, min_evaluate_nodes=clients
        )
        run_execution(
            superlink=link.address,
            strategy=strategy,
            initial_arrays=initial_arrays(CONFIG),
            num_rounds=rounds,
            run_config=CONFIG,
            min_clients=clients,
            on_round=lambda record, _accepted: records.append(record),
        )
        for r in records:
            phases = " ".join(f"{k}={v:.2f}" for k, v in r.timings.items())
            handler = max(u.seconds for u in r.train)
            print(
                f"[{mode}] round {r.round_number}: {phases} (slowest train handler {handler:.2f}s)"
            )
        return records
    finally:
        for node in nodes:
            node.stop()
        link.stop()


def main() -> None:
    """Parse arguments, measure each mode, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", nargs="+", choices=["stock", "warm"], default=["stock", "warm"])
    args = parser.parse_args()
    for mode in args.mode:
        totals = [r.timings["total"] for r in measure(mode, args.clients, args.rounds)]
        later = totals[1:] or totals  # round 1 includes first imports and FAB install
        median = statistics.median(later)
        print(
            f"[{mode}] per round: first {totals[0]:.1f}s, then median {median:.1f}s "
            f"(min {min(later):.1f}, max {max(later):.1f})"
        )


if __name__ == "__main__":
    main()
