"""Garbage collection in a simulation's driver process, per round, on either side (a diagnostic).

Part of ``bench/scale`` (a benchmark, never a test). Runs one side of
bench/scale/simulation.py in this process with ``gc.callbacks`` timing every
collection, and reports, per measured round (2..R, the same periods simulation.py
measures), how many full (generation 2) collections ran and how long they took, with
the number of objects the collector tracks before the run (what a full pass walks):

- ``--side plain``: ``simulation_plain.simulate`` (numpy, torch, flwr, ray imported; no Django);
- ``--side fedplane``: fedplane's execution created through the service layer and run
  by the Celery task body, eagerly, in this process (Django and all apps imported, as in
  the ``fl`` worker's child; SQLite under a fresh var dir inside FEDPLANE_VAR_DIR).

    python bench/scale/simulation_gc.py --side plain --n 1000 --rounds 4
    python bench/scale/simulation_gc.py --side fedplane --n 1000 --rounds 4
"""
from __future__ import annotations

import argparse
import gc
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# The run config fedplane derives from simulation.py's execution config (simulation.py checks it).
RUN_CONFIG = {"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0, "local-epochs": 1,
              "batch-size": 32, "learning-rate": 0.1}


class GcTimer:
    """(start, end, generation) of every collection, from any thread."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float, int]] = []
        self._started: dict[int, float] = {}

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started[threading.get_ident()] = time.monotonic()
        else:
            began = self._started.pop(threading.get_ident(), time.monotonic())
            self.events.append((began, time.monotonic(), info["generation"]))

    def within(self, start: float, end: float, generation: int) -> list[float]:
        return [b - a for a, b, g in self.events if g == generation and start < a <= end]


def plain_round_ends(n: int, rounds: int, folder: Path) -> list[float]:
    from bench.scale.simulation_data import synthetic, write_iid_partitions
    from bench.scale.simulation_plain import simulate

    x, y = synthetic()
    write_iid_partitions(x, y, n, folder)
    doc, _ = simulate(n=n, rounds=rounds, partition_dir=str(folder), run_config=RUN_CONFIG)
    return [m["end"] for m in doc["marks"]]


def fedplane_round_ends(n: int, rounds: int) -> list[float]:
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bench.scale.simulation_data import synthetic
    from flcore.models import TrainingRound
    from flcore.services.datasets import dataset_upload
    from flcore.services.executions import execution_create

    call_command("migrate", verbosity=0)
    x, y = synthetic()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    user = get_user_model().objects.create_superuser("bench-gc", password=None)
    dataset = dataset_upload(user=user, name="synthetic.npz", chunks=[buffer.getvalue()])
    wall, mono = time.time(), time.monotonic()
    execution = execution_create(  # the eager task runs it here, on commit
        user=user, model_type="classification", algorithm="fedavg", runtime="simulation",
        config={"rounds": rounds, "minClients": n, "numSupernodes": n, "dataset": str(dataset.pk),
                "partitioning": {"method": "iid", "seed": 0}, "localEpochs": 1, "batchSize": 32,
                "learningRate": 0.1, "roundTimeoutSeconds": 3600, "connectTimeoutSeconds": 3600},
        backend_config={"clientResources": {"numCpus": 1.0, "numGpus": 0.0}})
    execution.refresh_from_db()
    if execution.status != "completed":
        raise RuntimeError(f"execution ended {execution.status}: {execution.error_message}")
    rows = TrainingRound.objects.filter(execution=execution).order_by("round_number")
    return [r.completed_at.timestamp() - wall + mono for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("plain", "fedplane"), required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    parent = Path(os.environ.get("FEDPLANE_VAR_DIR") or REPO / "var" / "bench-sim")
    parent.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix=f"gc-{args.side}-", dir=parent))
    os.environ["FEDPLANE_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    if args.side == "fedplane":  # import what the worker child holds before counting
        import django

        django.setup()
        import flcore.runtime.app  # noqa: F401
        import flcore.tasks  # noqa: F401
        import flwr.simulation  # noqa: F401
    else:
        import flcore.runtime.app  # noqa: F401
        import flwr.simulation  # noqa: F401
    tracked = len(gc.get_objects())
    timer = GcTimer()
    gc.callbacks.append(timer)
    try:
        ends = (plain_round_ends(args.n, args.rounds, var_dir / "partitions") if args.side == "plain"
                else fedplane_round_ends(args.n, args.rounds))
    finally:
        gc.callbacks.remove(timer)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"{args.side}, N={args.n}: {tracked} objects tracked before the run, load {os.getloadavg()[0]:.1f}")
    for k in range(1, len(ends)):
        full = timer.within(ends[k - 1], ends[k], 2)
        young = timer.within(ends[k - 1], ends[k], 0) + timer.within(ends[k - 1], ends[k], 1)
        print(f"  round {k + 1}: {ends[k] - ends[k - 1]:7.2f} s; full collections {len(full)}"
              f" ({sum(full):.2f} s: {', '.join(f'{s:.2f}' for s in full)}); young {len(young)} ({sum(young):.2f} s)")


if __name__ == "__main__":
    main()
