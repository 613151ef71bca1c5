"""Round time at 10, 25 and 50 real SuperNodes: fedplane against Flower's own loop (a benchmark, not a test).

One SuperLink and N warm SuperNodes (the numpy ClientApp, fedplane's launcher and
executor, as the product starts them) on this host. First the idle cost: nodes are
added up to the largest N, and at each size the SuperLink's RSS and CPU are taken
while the nodes wait with the fast poll (just after a message) and with the idle poll
(after FEDPLANE_SUPERNODE_ACTIVE_SECONDS). Then rounds, largest N first, nodes
stopped down to the next size: ``--repeats`` runs of ``--rounds`` rounds per side,
interleaved (bench/scale/sides.py), each round timed start to start (rounds 2..R).

    python bench/scale/deployment.py --sizes 10,25,50 --rounds 5 --repeats 2
    python bench/scale/deployment.py --sizes 10 --rounds 3 --repeats 1       # smoke test
    python bench/scale/deployment.py --sizes 50 --idle-only --idle-poll 0.2  # fixed 0.2 s poll

Target (issue 11): overhead at most max(10%, 50 ms) per round at 50 nodes.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
# A fresh var dir per run (inside FEDPLANE_VAR_DIR when set): its own database and logs.
_parent = os.environ.get("FEDPLANE_VAR_DIR")
if _parent:
    Path(_parent).mkdir(parents=True, exist_ok=True)
os.environ["FEDPLANE_VAR_DIR"] = tempfile.mkdtemp(prefix="fedplane-bench-scale-", dir=_parent)
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # the task body runs here, timed with the rest

import django  # noqa: E402

django.setup()
for _name in ("flwr", "celery", "httpx", "flcore"):  # one line per Flower call otherwise
    logging.getLogger(_name).setLevel(logging.WARNING)

from django.conf import settings  # noqa: E402

from bench.scale.cluster import NUMPY_APP, Cluster, group_usage, group_uss, sample_usage  # noqa: E402
from bench.scale.sides import RunResult, run_fedplane_driver, run_fedplane_product, run_flower  # noqa: E402
from flcore.runtime import FlowerDriver, build_fab  # noqa: E402
from flcore.runtime.poll import active_seconds  # noqa: E402

CONFIG = {"clientFraction": 1.0, "localEpochs": 1, "batchSize": 32, "learningRate": 0.1, "inputDim": 64,
          "numClasses": 10, "roundTimeoutSeconds": 120, "connectTimeoutSeconds": 120, "clientApp": NUMPY_APP}


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def wake(cluster: Cluster, run_config: dict) -> None:
    """A discovery query to every node: each has just had a message, so polls fast."""
    n = len(cluster.nodes)
    with FlowerDriver(cluster.link.address, client_ids=cluster.client_ids[:n]) as driver:
        driver.start(build_fab(run_config, clientapp=NUMPY_APP))
        driver.wait_for_nodes(n, 120)


def idle_costs(cluster: Cluster, sizes: list[int], run_config: dict, args: argparse.Namespace) -> None:
    base, = sample_usage([[cluster.link.pid]], 3)
    print(f"SuperLink, no node: RSS {base.rss_mb:.1f} MB, CPU {base.cpu:.1%} of a core")
    print(f"{'nodes':>5} {'start s':>8} {'RSS MB':>7} {'MB/node':>7} | CPU% SuperLink: fast poll  idle poll"
          f" | nodes+executors CPU%: fast  idle | RSS (USS) MB per node, executor")
    for n in sizes:
        began = time.monotonic()
        cluster.grow(n, poll=args.poll)
        grown = time.monotonic() - began
        time.sleep(2)
        _, rss = group_usage([cluster.link.pid])
        wake(cluster, run_config)
        woke = time.monotonic()
        local = cluster.node_pids() + cluster.executor_pids()
        fast, fast_local = sample_usage([[cluster.link.pid], local], args.idle_seconds)
        time.sleep(max(0.0, woke + active_seconds() + 2 - time.monotonic()))
        idle, idle_local = sample_usage([[cluster.link.pid], local], args.idle_seconds)
        nodes, executors = cluster.node_pids(), cluster.executor_pids()
        per_node = (f"{group_usage(nodes)[1] / n:.0f} ({group_uss(nodes) / n:.0f}), "
                    f"{group_usage(executors)[1] / n:.0f} ({group_uss(executors) / n:.0f})")
        print(f"{n:5d} {grown:8.1f} {rss:7.1f} {(rss - base.rss_mb) / n:7.2f} | {fast.cpu:25.1%} {idle.cpu:10.1%}"
              f" | {fast_local.cpu:26.1%} {idle_local.cpu:5.1%} | {per_node}", flush=True)
    print(f"node start-up (two processes each, four at a time): {cluster.startup()}")


def rounds_at(n: int, cluster: Cluster, user, run_config: dict, args: argparse.Namespace) -> dict:
    ids = cluster.client_ids[:n]
    results: dict[str, list[RunResult]] = {"flower": [], "fedplane": []}
    link_cpu: dict[str, list[float]] = {"flower": [], "fedplane": []}
    for repeat in range(args.repeats):
        for side in ("flower", "fedplane") if repeat % 2 == 0 else ("fedplane", "flower"):
            local = cluster.node_pids() + cluster.executor_pids()
            cpu0, local0, t0 = group_usage([cluster.link.pid])[0], group_usage(local)[0], time.monotonic()
            try:
                if side == "flower":
                    result = run_flower(cluster.link.address, ids, run_config, args.rounds)
                elif args.fedplane == "driver":
                    result = run_fedplane_driver(cluster.link.address, ids, run_config, args.rounds)
                else:
                    result = run_fedplane_product(user, ids, CONFIG, args.rounds)
            except Exception:
                print(f"  N={n} {side} repeat {repeat + 1} failed; {cluster.failures()}", flush=True)
                raise
            link_cpu[side].append((group_usage([cluster.link.pid])[0] - cpu0) / (time.monotonic() - t0))
            # Flower's per-message work on the nodes' side, which shares this host's cores.
            local_cpu = (group_usage(local)[0] - local0) / args.rounds
            results[side].append(result)
            phases = "".join(f", {name} {statistics.median(p.get(name, 0.0) for p in result.phases):.2f}"
                             for name in ("train", "evaluate") if result.phases)
            print(f"  N={n} {side:8s} repeat {repeat + 1}: " + " ".join(f"{s:.3f}" for s in result.round_seconds)
                  + f"  | driver CPU {result.cpu_seconds / args.rounds:.3f} s/round, RSS +{result.rss_growth_mb:.1f} MB,"
                  f" SuperLink CPU {link_cpu[side][-1]:.0%}, nodes+executors CPU {local_cpu:.1f} s/round,"
                  f" load {os.getloadavg()[0]:.1f}{phases}", flush=True)
    row = {"n": n, "link_rss": group_usage([cluster.link.pid])[1]}
    for side, runs in results.items():
        seconds = [s for run in runs for s in run.round_seconds]
        row[side] = (statistics.median(seconds), p90(seconds), max(r.rss_growth_mb for r in runs),
                     statistics.median(link_cpu[side]), statistics.median(r.cpu_seconds / args.rounds for r in runs))
    return row


def report(rows: list[dict]) -> None:
    print(f"\n{'nodes':>5} | {'flower median':>13} {'p90':>6} | {'fedplane median':>15} {'p90':>6} | "
          f"{'overhead':>16} {'target':>7} | driver CPU s/round f/fp | driver RSS growth f/fp MB"
          f" | SuperLink CPU f/fp, RSS MB")
    for row in sorted(rows, key=lambda r: r["n"]):
        (fm, f9, frss, fcpu, fdrv), (pm, p9, prss, pcpu, pdrv) = row["flower"], row["fedplane"]
        allowed, over = max(0.10 * fm, 0.050), pm - fm
        print(f"{row['n']:5d} | {fm:13.3f} {f9:6.3f} | {pm:15.3f} {p9:6.3f} | {over * 1000:+7.0f} ms {over / fm:+6.1%}"
              f" {'met' if over <= allowed else 'NOT met':>7} | {fdrv:9.3f} / {pdrv:<9.3f} | {frss:11.1f} / {prss:<11.1f}"
              f" | {fcpu:.0%} / {pcpu:.0%}, {row['link_rss']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,25,50", help="numbers of SuperNodes, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (rounds 2..R are timed)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side and size, interleaved")
    parser.add_argument("--fedplane", choices=("product", "driver"), default="product")
    parser.add_argument("--poll", type=float, default=0.2, help="FEDPLANE_SUPERNODE_POLL (fast poll) of the nodes")
    parser.add_argument("--idle-poll", type=float, default=float(os.environ.get("FEDPLANE_SUPERNODE_IDLE_POLL", 3)),
                        help="FEDPLANE_SUPERNODE_IDLE_POLL of the nodes (equal to --poll: a fixed poll)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="CPU sampling window")
    # The executor's own default (20 s) can pass while its SuperNode is still fetching a
    # message from a busy SuperLink: it then gives up, and the SuperNode waits forever
    # for that reply (bench/README.md). Only a slow pull runs into this bound.
    parser.add_argument("--pull-timeout", type=float, default=120,
                        help="FEDPLANE_CLIENT_PULL_TIMEOUT of the warm executors (default %(default)s s)")
    parser.add_argument("--idle-only", action="store_true", help="measure the idle costs only")
    parser.add_argument("--samples-per-node", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the var dir (logs, database)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from flcore.models import TrainingExecution
    from flcore.services.clients import client_register
    from flcore.services.training_plan import run_config_of

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password=None)
    client_ids = [str(client_register(owner=user, name=f"scale-{i}").pk) for i in range(sizes[-1])]
    run_config = run_config_of(TrainingExecution(config=CONFIG, algorithm="fedavg"))
    folder = Path(settings.VAR_DIR) / "cluster"
    env = {"FLWR_HOME": str(folder / "flwr-home"), "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
           "FEDPLANE_SUPERNODE_IDLE_POLL": str(args.idle_poll), "FEDPLANE_CLIENT_PULL_TIMEOUT": str(args.pull_timeout)}
    print(f"sizes {sizes}, {args.rounds} rounds x {args.repeats} repeats per side, fedplane side: {args.fedplane};"
          f" poll {args.poll} s, idle poll {args.idle_poll} s after {active_seconds():.0f} s,"
          f" executor pull timeout {args.pull_timeout:.0f} s;"
          f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; var dir {settings.VAR_DIR}", flush=True)
    cluster = Cluster(folder, env, client_ids, samples_per_node=args.samples_per_node).start()
    settings.FLOWER_SUPERLINK_ADDRESS = cluster.link.address
    ok = False
    try:
        idle_costs(cluster, sizes, run_config, args)
        rows = []
        if not args.idle_only:
            for n in reversed(sizes):
                cluster.shrink(n)
                rows.append(rounds_at(n, cluster, user, run_config, args))
            report(rows)
        ok = True
    finally:
        cluster.stop()
        if ok and not args.keep:
            shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
        else:
            print(f"logs and database kept in {settings.VAR_DIR}")


if __name__ == "__main__":
    main()
