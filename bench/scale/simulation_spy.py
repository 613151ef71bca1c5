"""py-spy on a simulation's driver process, and where its samples fall (bench/scale/simulation.py --py-spy).

Part of ``bench/scale`` (a benchmark, never a test). py-spy is not a dependency:
``pip install py-spy`` into the venv to use it. ``attach`` samples a process (plain
Flower's child, or the Celery worker child that runs fedplane's execution) until it
exits; ``summarize`` sorts the raw samples by thread role (the ServerApp thread, the
Simulation Engine's message sweep, its workers that hand messages to Ray, the thread
storing replies) and, in the ServerApp thread, by the innermost known step.

    python bench/scale/simulation_spy.py var/bench-sim/run-*/spy/*.txt
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["attach", "summarize"]

# A thread's role: the first one (in this order) with a frame containing its string.
ROLES = (
    ("add_messages_to_queue", "engine: message sweep"),
    ("put_message_into_state", "engine: store replies"),
    ("worker (flwr/server/superlink/fleet/vce/vce_api.py)", "engine: workers (Ray)"),
    ("server_th_with_start_checks", "ServerApp"),
    ("_Heartbeat", "fedplane heartbeat"),
    ("start_vce", "engine: main thread"),
)
# Step of the ServerApp thread: the first label with a frame containing one of its strings.
STEPS = (
    ("event numbering", ("sequence_committed (",)),
    ("record_round_started", ("record_round_started (",)),
    ("record_round", ("record_round (",)),
    ("checkpoint", ("(flcore/services/checkpoints.py)",)),
    ("reads between rounds", ("should_stop (", "trigger_take (", "(flcore/services/training_plan.py)")),
    ("pull_messages", ("pull_messages (",)),
    ("push_messages", ("push_messages (",)),
    ("node lists", ("connected_node_ids (", "get_node_ids (", "get_nodes (")),
    ("updates_of", ("updates_of (",)),
    ("configure", ("configure_train (", "configure_evaluate (")),
    ("aggregate", ("aggregate_train (", "aggregate_evaluate (")),
)
WAITS = {"Condition.wait", "Event.wait", "wait", "sleep", "Queue.get", "select", "poll"}


def attach(pid: int, output: Path, rate: int = 50, subprocesses: bool = False) -> subprocess.Popen | None:
    """Start py-spy on ``pid`` (raw collapsed stacks to ``output``); None without py-spy.

    ``--gil``: only the thread holding the GIL is sampled, so the shares say which
    thread's Python code the process spent its time in (the driver is GIL-bound;
    waiting threads and C code that released the GIL do not count). ``subprocesses``:
    its children too (fedplane's Celery pool process runs a simulation in a child,
    flcore/services/simulation_process.py).
    """
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
                             "--rate", str(rate), "--nonblocking", "--nolineno", "--gil",
                             *(["--subprocesses"] if subprocesses else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _name(frame: str) -> str:
    return frame.split(" (", 1)[0]


def summarize(path: Path) -> dict[str, float]:
    """Share of all samples per role, and per step inside the ServerApp thread."""
    shares: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        if not stack.strip() or _name(frames[-1]) in WAITS:
            continue
        total += n
        role = next((label for key, label in ROLES for f in frames if key in f), "other")
        if role == "ServerApp":
            step = next((label for label, keys in STEPS if any(k in f for f in frames for k in keys)), "other")
            role = f"ServerApp: {step}"
        shares[role] += n
    return {k: v / total for k, v in shares.most_common()} if total else {}


def main() -> None:
    for arg in sys.argv[1:]:
        print(arg)
        for role, share in summarize(Path(arg)).items():
            print(f"  {share:6.1%}  {role}")


if __name__ == "__main__":
    main()
