"""Seconds per round at N virtual clients: fedplane's simulation runtime against plain Flower (a benchmark).

Both sides run Flower's Simulation Engine on a fresh local Ray (2 CPUs here) with the
same ClientApp, strategy (FedAvg, fractions 1.0, minimums N), N, backend config
(``client_resources``), rounds, run config and partitions, alternately, in one run:

- **plain**: ``flwr.simulation.run_simulation`` with a ServerApp running Flower's own
  ``FedAvg.start`` (bench/scale/simulation_plain.py, a fresh process per run);
- **fedplane**: ``POST /api/v1/fl/executions`` with ``runtime: "simulation"`` on the
  embedded platform (ASGI server and Celery workers, SQLite, filesystem broker), run by
  the ``fl`` worker in a fresh child (bench/scale/simulation_fedplane.py), with
  everything it records: rounds, N train and N evaluate client updates a round,
  checkpoints with sha256, metrics, events.

A round is measured end to end, rounds 2..R (round 1 starts the Ray actors): plain, the
time between consecutive returns of ``aggregate_evaluate``; fedplane, between
consecutive ``TrainingRound.completed_at`` (stamped as each round's recording begins),
so each includes whatever the side does between rounds. One dataset for every N (a
synthetic one uploaded through ``POST /api/v1/fl/datasets``), split IID with seed 0.

    python bench/scale/simulation.py --sizes 10,100,1000 --rounds 5 --repeat 2
    python bench/scale/simulation.py --sizes 10,100 --rounds 3 --repeat 1     # smoke test

Target (issue 11): fedplane's round time <= 1.10x plain Flower's at every N, its records complete.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
# A fresh var dir per invocation inside FEDPLANE_VAR_DIR (default var/bench-sim): its own
# database, broker, artifacts and logs; the platform's processes inherit it.
_parent = Path(os.environ.get("FEDPLANE_VAR_DIR") or REPO / "var" / "bench-sim")
_parent.mkdir(parents=True, exist_ok=True)
os.environ["FEDPLANE_VAR_DIR"] = tempfile.mkdtemp(prefix="run-", dir=_parent)
os.environ["FLOWER_MANAGE_SUPERLINK"] = "false"  # a simulation needs no SuperLink
os.environ.setdefault("PYTHONPATH", str(REPO))

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.scale.simulation_data import synthetic, write_iid_partitions  # noqa: E402
from bench.scale.simulation_fedplane import FedplaneRun, Platform, WorkerStuck, collect, partitions_match  # noqa: E402
from bench.scale.simulation_spy import attach, summarize  # noqa: E402

TORCH_APP = "flcore.runtime.app:app"
TARGET = 1.10


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)] if values else float("nan")


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def execution_body(args: argparse.Namespace, n: int, dataset_id: str) -> dict:
    config = {"rounds": args.rounds, "minClients": n, "numSupernodes": n, "dataset": dataset_id,
              "partitioning": {"method": "iid", "seed": 0}, "localEpochs": 1, "batchSize": 32,
              "learningRate": 0.1, "roundTimeoutSeconds": int(args.run_timeout),
              "connectTimeoutSeconds": int(args.run_timeout)}
    if args.clientapp != TORCH_APP:
        config["clientApp"] = args.clientapp
    return {"algorithm": "fedavg", "runtime": "simulation", "config": config,
            "backendConfig": {"clientResources": {"numCpus": args.num_cpus, "numGpus": 0.0}}}


def plain_run_config(args: argparse.Namespace, features: int, classes: int) -> dict:
    """The run config fedplane derives from the same execution config (checked after its run)."""
    from flcore.models import TrainingExecution
    from flcore.services.training_plan import run_config_of

    config = {**execution_body(args, 1, "")["config"], "inputDim": features, "numClasses": classes}
    return run_config_of(TrainingExecution(config=config, algorithm="fedavg"))


def write_plain_partitions(x: np.ndarray, y: np.ndarray, n: int) -> Path:
    return write_iid_partitions(x, y, n, Path(settings.VAR_DIR) / "plain-partitions" / f"n{n}")


def run_plain(args: argparse.Namespace, n: int, folder: Path, run_config: dict, tag: str) -> dict:
    out = Path(settings.VAR_DIR) / f"plain-{tag}.json"
    log = Path(settings.VAR_DIR) / "logs" / f"plain-{tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.scale.simulation_plain", "--n", str(n), "--rounds", str(args.rounds),
               "--partition-dir", str(folder), "--run-config", json.dumps(run_config),
               "--clientapp", args.clientapp, "--num-cpus", str(args.num_cpus), "--out", str(out)]
    if args.plain_pull_interval is not None:
        command += ["--pull-interval", str(args.plain_pull_interval)]
    with open(log, "wb") as stream:
        proc = subprocess.Popen(command, cwd=REPO, stdout=stream, stderr=subprocess.STDOUT)
        spies = [attach(proc.pid, spy_file(f"plain-{tag}"))] if args.py_spy else []
        try:
            proc.wait(timeout=args.run_timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
            finish_spies(spies)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"plain run_simulation exited {proc.returncode}; see {log}")
    result = json.loads(out.read_text())
    marks = result["marks"]
    ends = [m["end"] for m in marks]
    result["round_seconds"] = [b - a for a, b in zip(ends, ends[1:])]
    result["phases"] = [{"train": m["aggregate_train"] - m["configure_train"],
                         "aggregate": m["aggregated_train"] - m["aggregate_train"],
                         "evaluate": m["end"] - m["aggregated_train"],
                         "between": period - (m["end"] - m["configure_train"])}
                        for m, period in zip(marks[1:], result["round_seconds"])]
    result["first_round_seconds"] = marks[0]["end"] - marks[0]["configure_train"] if marks else float("nan")
    problems = [f"round {r['round']} {r['phase']}: {r['good']} good, {r['errors']} errors, "
                f"{len(set(r['partitions']))} partitions" for r in result["replies"]
                if r["good"] != n or r["errors"] or r["partitions"] != list(range(n))]
    if len(marks) != args.rounds or not result["completed"]:
        problems.append(f"{len(marks)} rounds of {args.rounds}, completed={result['completed']}")
    result["problems"] = problems
    with np.load(str(out) + ".npz") as final:
        result["final_arrays"] = {k: final[k] for k in final.files}
    return result


def spy_file(name: str) -> Path:
    return Path(settings.VAR_DIR) / "spy" / f"{name}.txt"


def spy_on_worker(platform_: Platform, tag: str) -> list:
    """The ``fl`` pool process that takes the next execution, and the simulation process it starts."""
    return [attach(pid, spy_file(tag), subprocesses=True) for pid in platform_.pool_pids()]


def finish_spies(spies: list) -> None:
    """py-spy stops when its process exits (and then writes its file)."""
    for spy in filter(None, spies):
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.terminate()


def spy_line(name: str) -> str:
    path = spy_file(name)
    if not path.exists():
        return ""
    top = list(summarize(path).items())[:8]
    return "\n      py-spy: " + ", ".join(f"{role} {share:.0%}" for role, share in top)


def max_weight_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    if not a or sorted(a) != sorted(b):
        return float("nan")
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in a)


def fmt(values: list[float]) -> str:
    return " ".join(f"{s:.3f}" for s in values)


def run_size(args: argparse.Namespace, platform_: Platform, n: int, dataset_id: str, x: np.ndarray,
             y: np.ndarray, run_config: dict) -> dict:
    folder = write_plain_partitions(x, y, n)
    plain: list[dict] = []
    fedplane: list[FedplaneRun] = []
    notes: list[str] = []
    for repeat in range(args.repeat):
        for side in ("plain", "fedplane") if repeat % 2 == 0 else ("fedplane", "plain"):
            load = os.getloadavg()[0]
            began = time.monotonic()
            if side == "plain":
                result = run_plain(args, n, folder, run_config, f"n{n}-r{repeat + 1}")
                plain.append(result)
                print(f"  N={n:<5d} plain    repeat {repeat + 1}: {fmt(result['round_seconds'])}"
                      f"  | round 1 {result['first_round_seconds']:.1f} s, start {result['startup_seconds']:.1f} s,"
                      f" wall {time.monotonic() - began:.0f} s, load {load:.1f}"
                      f"{', PROBLEMS: ' + '; '.join(result['problems'][:3]) if result['problems'] else ''}"
                      f"{spy_line(f'plain-n{n}-r{repeat + 1}') if args.py_spy else ''}", flush=True)
                continue
            tag = f"fedplane-n{n}-r{repeat + 1}"
            spies = spy_on_worker(platform_, tag) if args.py_spy else []
            try:
                execution_id = platform_.run(execution_body(args, n, dataset_id), timeout=args.run_timeout)
            except WorkerStuck as stuck:  # seen once in a few dozen runs: retry on fresh processes
                finish_spies(spies)
                notes.append(f"repeat {repeat + 1}: {stuck}; platform restarted, run again")
                print(f"  N={n:<5d} fedplane repeat {repeat + 1}: {stuck}; restarting the platform", flush=True)
                platform_.restart()
                began = time.monotonic()
                spies = spy_on_worker(platform_, tag) if args.py_spy else []
                execution_id = platform_.run(execution_body(args, n, dataset_id), timeout=args.run_timeout)
            finally:
                finish_spies(spies)
            run = collect(execution_id, n, args.rounds)
            fedplane.append(run)
            print(f"  N={n:<5d} fedplane repeat {repeat + 1}: {fmt(run.round_seconds)}"
                  f"  | round 1 {run.first_round_seconds:.1f} s, start {run.startup_seconds:.1f} s,"
                  f" wall {time.monotonic() - began:.0f} s, load {load:.1f}, records "
                  f"{'complete' if run.complete else 'INCOMPLETE: ' + (run.error or '; '.join(run.problems[:3]))}"
                  f"{spy_line(tag) if args.py_spy else ''}", flush=True)
            if len(fedplane) == 1 and run.status == "completed":
                if not partitions_match(run.partition_dir, folder, n):
                    notes.append("partitions differ between the sides")
                fedplane_config = {k: v for k, v in run.run_config.items() if k != "partition-dir"}
                if fedplane_config != run_config:
                    notes.append(f"run configs differ: fedplane {fedplane_config}, plain {run_config}")
    # Replies are summed in arrival order, which varies from run to run; the float differences grow
    # through training. So: each fedplane model against the closest plain one, beside the plain spread.
    diffs = [min(max_weight_difference(f.final_arrays, p["final_arrays"]) for p in plain) for f in fedplane]
    spread = [max_weight_difference(a["final_arrays"], b["final_arrays"])
              for i, a in enumerate(plain) for b in plain[i + 1:]]
    return {"n": n, "plain": plain, "fedplane": fedplane, "notes": notes,
            "weight_diff": max(diffs, default=np.nan), "plain_spread": max(spread, default=np.nan)}


def report(rows: list[dict]) -> None:
    print(f"\n{'N':>5} | {'plain s/round':>13} {'p90':>6} | {'fedplane s/round':>16} {'p90':>6} | {'ratio':>5}"
          f" {'<=1.10':>6} | records complete | max|w_fp - w_plain| (plain runs) | rounds measured p/f")
    for row in rows:
        ps = [s for r in row["plain"] for s in r["round_seconds"]]
        fs = [s for r in row["fedplane"] for s in r.round_seconds]
        ratio = med(fs) / med(ps) if ps and fs else float("nan")
        complete = all(r.complete for r in row["fedplane"]) and not any(r["problems"] for r in row["plain"])
        print(f"{row['n']:5d} | {med(ps):13.3f} {p90(ps):6.3f} | {med(fs):16.3f} {p90(fs):6.3f} | {ratio:5.2f}"
              f" {'met' if ratio <= TARGET else 'NOT met':>6} | {'yes' if complete else 'NO':>16} |"
              f" {row['weight_diff']:20.2e} ({row['plain_spread']:.1e}) | {len(ps)}/{len(fs)}")
        for note in row["notes"]:
            print(f"      note: {note}")
    print("max|w_fp - w_plain|: each fedplane run's final model against the closest plain run's (in brackets:"
          " plain runs among\nthemselves). Replies are summed in arrival order, which varies, and training"
          " amplifies the rounding.")
    print("\nWhere a round's time goes (medians over the measured rounds, seconds):")
    print(f"{'N':>5} | plain: {'train':>6} {'aggr':>6} {'eval':>6} {'between':>7} | fedplane: {'wait':>6}"
          f" {'train':>6} {'aggr':>6} {'eval':>6} {'record':>6} | {'extra':>6}")
    for row in rows:
        pp = [p for r in row["plain"] for p in r["phases"]]
        ft = [t for r in row["fedplane"] for t in r.timings]
        fr = [s for r in row["fedplane"] for s in r.recording]
        ps = [s for r in row["plain"] for s in r["round_seconds"]]
        fs = [s for r in row["fedplane"] for s in r.round_seconds]
        print(f"{row['n']:5d} |        {med([p['train'] for p in pp]):6.3f} {med([p['aggregate'] for p in pp]):6.3f}"
              f" {med([p['evaluate'] for p in pp]):6.3f} {med([p['between'] for p in pp]):7.3f} |"
              f"           {med([t['wait'] for t in ft]):6.3f} {med([t['train'] for t in ft]):6.3f}"
              f" {med([t['aggregate'] for t in ft]):6.3f} {med([t['evaluate'] for t in ft]):6.3f}"
              f" {med(fr):6.3f} | {med(fs) - med(ps):+6.3f}")
    print("plain train = configure_train + exchange; eval = configure_evaluate + exchange + aggregate_evaluate;"
          " between = rest of the period.\nfedplane wait/train/aggr/eval = TrainingRound.timings (train includes"
          " configure_train); record = period - timings.total\n(checkpoint, DB rows, events, stop/settings"
          " reads between rounds). extra = fedplane median - plain median.")


def machine() -> str:
    import flwr
    import ray
    import torch

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"flwr {flwr.__version__}, ray {ray.__version__}, torch {torch.__version__}")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load {os.getloadavg()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="numbers of virtual clients, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (rounds 2..R are measured)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side and size, interleaved")
    parser.add_argument("--clientapp", default=TORCH_APP,
                        help="the ClientApp of both sides (flcore.runtime.numpy_app:app: no torch)")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="client_resources num_cpus of both sides")
    parser.add_argument("--samples", type=int, default=20_000, help="rows of the synthetic dataset")
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="seconds a single run may take")
    parser.add_argument("--plain-pull-interval", type=float, default=None,
                        help="experiment: the plain side's InMemoryGrid pull interval (default Flower's 0.1 s)")
    parser.add_argument("--py-spy", action="store_true",
                        help="sample each run's driver process with py-spy (pip install py-spy); raw stacks in"
                             " <var dir>/spy (kept with --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the var dir (database, logs, artifacts)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (round 1 is not measured)")

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    features, classes = 64, 10
    x, y = synthetic(args.samples, features, classes)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    run_config = plain_run_config(args, features, classes)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}\n{uptime()}\n"
          f"sizes {sizes}, {args.rounds} rounds x {args.repeat} repeats per side, ClientApp {args.clientapp},"
          f" client_resources num_cpus {args.num_cpus},"
          f" plain pull interval {args.plain_pull_interval or 'Flower default (0.1 s)'},"
          f" dataset {args.samples} x {features}, {classes} classes;"
          f"\nrun config {run_config}; var dir {settings.VAR_DIR}", flush=True)
    platform_ = Platform().start()
    ok = False
    try:
        dataset = platform_.upload("synthetic.npz", buffer.getvalue())
        rows = [run_size(args, platform_, n, dataset["id"], x, y, run_config) for n in sizes]
        print(f"\n{uptime()}")
        report(rows)
        ok = True
    finally:
        platform_.stop()
        if ok and not args.keep:
            shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
        else:
            print(f"logs, database and artifacts kept in {settings.VAR_DIR}")


if __name__ == "__main__":
    main()
