"""What fedplane does between a simulation's rounds, timed in process at N clients (no Flower, no Ray).

Part of ``bench/scale`` (a benchmark, never a test): the "record" column of
bench/scale/simulation.py, taken apart. A synthetic ``RoundRecord`` with N train and N
evaluate updates (fedplane's MLP, virtual clients' node config) goes through the calls
the runner makes around every round, on the embedded default (SQLite under a fresh var
dir inside FEDPLANE_VAR_DIR, default var/bench-sim), each timed (best and median of
``--repeat``), then ``record_round`` under cProfile.

    python bench/scale/simulation_recording.py --sizes 10,100,1000 --repeat 5
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
_parent = Path(os.environ.get("FEDPLANE_VAR_DIR") or REPO / "var" / "bench-sim")
_parent.mkdir(parents=True, exist_ok=True)
os.environ["FEDPLANE_VAR_DIR"] = tempfile.mkdtemp(prefix="recording-", dir=_parent)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

RUN_CONFIG = {"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0, "local-epochs": 1,
              "batch-size": 32, "learning-rate": 0.1}


def synthetic_record(n: int, round_number: int):
    from flcore.runtime.model import initial_arrays
    from flcore.runtime.records import ClientUpdate, RoundRecord, RoundSettings

    def updates(phase: str) -> list[ClientUpdate]:
        metrics = ({"num-examples": 16, "train-loss": 0.5, "train-accuracy": 0.8} if phase == "train"
                   else {"num-examples": 4, "eval-loss": 0.6, "eval-accuracy": 0.75})
        return [ClientUpdate(node_id=10**12 + i, node_config={"partition-id": i, "num-partitions": n},
                             num_examples=int(metrics["num-examples"]), metrics=dict(metrics), seconds=0.01)
                for i in range(n)]

    arrays = {k: v.numpy() for k, v in initial_arrays(RUN_CONFIG).items()}
    return RoundRecord(run_id=1, round_number=round_number, node_ids=[10**12 + i for i in range(n)],
                       train=updates("train"), evaluate=updates("evaluate"), arrays=arrays,
                       train_metrics={"train-loss": 0.5, "train-accuracy": 0.8, "num-examples": 16 * n},
                       evaluate_metrics={"eval-loss": 0.6, "eval-accuracy": 0.75, "num-examples": 4 * n},
                       timings={"wait": 0.0, "train": 1.0, "aggregate": 0.01, "evaluate": 0.5, "total": 1.51},
                       settings=RoundSettings(timeout=600.0, min_responders=n))


def execution(n: int, rounds: int):
    from django.contrib.auth import get_user_model

    from flcore.models import TrainingExecution

    user, _ = get_user_model().objects.get_or_create(username="bench-recording")
    return TrainingExecution.objects.create(
        model_type="classification", algorithm="fedavg", runtime="simulation", status="running",
        total_rounds=rounds, created_by=user,
        config={"rounds": rounds, "minClients": n, "numSupernodes": n, "inputDim": 64, "numClasses": 10})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=5, help="rounds recorded per size")
    parser.add_argument("--profile-lines", type=int, default=25)
    args = parser.parse_args()

    from django.core.management import call_command

    from flcore.services import aggregation, checkpoints
    from flcore.services.recording import record_round, record_round_started
    from flcore.models import TrainingExecution
    from flcore.services.training_plan import _round_settings_reader, _validation_reader
    from flcore.strategies.registry import build_strategy

    call_command("migrate", verbosity=0)
    print(f"load {os.getloadavg()[0]:.1f}; var dir {settings.VAR_DIR}")
    try:
        for n in sorted({int(s) for s in args.sizes.split(",")}):
            row = execution(n, args.repeat + 1)
            strategy = build_strategy("fedavg", options={"min_train_nodes": n}, weights="proportional", plugins={})
            settings_of, validation = _round_settings_reader(row.pk), _validation_reader(row.pk)
            parts: dict[str, list[tuple[float, float]]] = {}  # name -> [(wall, CPU of this thread)]

            def timed(name: str, call):
                began, cpu = time.perf_counter(), time.thread_time()
                result = call()
                parts.setdefault(name, []).append((time.perf_counter() - began, time.thread_time() - cpu))
                return result

            for number in range(1, args.repeat + 1):
                record = synthetic_record(n, number)
                timed("should_stop (1 read)", lambda: TrainingExecution.objects.only("stop_requested").get(pk=row.pk))
                timed("trigger_take (write lock)", lambda: aggregation.trigger_take(row.pk, number))
                timed("round settings (1 read)", lambda: settings_of(number))
                timed("record_round_started", lambda: record_round_started(row.pk, number, record.node_ids))
                timed("accept_round (1 read)", validation)
                artifact, state = timed("checkpoints.save", lambda: checkpoints.save(row, record, strategy))
                timed("record_round (+ event numbering)", lambda: record_round(
                    row, record, artifact=artifact, accepted=True, privacy=None, state_path=state,
                    model_spec={"input-dim": 64}))
            total = sum(statistics.median(w for w, _ in v) for v in parts.values())
            cpu = sum(statistics.median(c for _, c in v) for v in parts.values())
            print(f"\nN = {n}: per round, median of {args.repeat} rounds: wall ms (best), CPU ms;"
                  f" sums of medians: wall {total * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms")
            for name, values in parts.items():
                walls, cpus = [w for w, _ in values], [c for _, c in values]
                print(f"  {name:36s} {statistics.median(walls) * 1000:8.1f} ({min(walls) * 1000:.1f})"
                      f" {statistics.median(cpus) * 1000:8.1f}")
            record = synthetic_record(n, args.repeat + 1)
            artifact, state = checkpoints.save(row, record, strategy)
            profile = cProfile.Profile()
            profile.enable()
            record_round(row, record, artifact=artifact, accepted=True, privacy=None, state_path=state,
                         model_spec={"input-dim": 64})
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile_lines)
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
    finally:
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
