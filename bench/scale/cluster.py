"""One SuperLink and many warm numpy SuperNodes on this host, and what they cost.

Part of ``bench/scale`` (a benchmark, never a test). Nodes start a few at a time
(each is two Python processes importing flwr) and stop gracefully, so the SuperLink
forgets them at once.
"""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from flcore.runtime import SuperLinkProcess, SuperNodeProcess

__all__ = ["NUMPY_APP", "Cluster", "Usage", "group_usage", "group_uss", "sample_usage"]

NUMPY_APP = "flcore.runtime.numpy_app:app"


@dataclass(frozen=True)
class Usage:
    """CPU (share of one core) and resident memory of some processes over a window."""

    cpu: float
    rss_mb: float


def _group(pid: int) -> list[psutil.Process]:
    """A managed process and its children (SuperLink or SuperNode process group)."""
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def group_usage(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds so far, RSS in MB) summed over these process groups."""
    cpu = rss = 0.0
    for pid in pids:
        for proc in _group(pid):
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return cpu, rss / 2**20


def group_uss(pids: list[int]) -> float:
    """Memory only these processes hold (USS, MB): what one more node really costs."""
    total = 0
    for pid in pids:
        for proc in _group(pid):
            try:
                total += proc.memory_full_info().uss
            except psutil.NoSuchProcess:
                continue
    return total / 2**20


def sample_usage(groups: list[list[int]], seconds: float) -> list[Usage]:
    """For each list of process groups: CPU share over the same ``seconds``, RSS at the end."""
    before = [group_usage(pids)[0] for pids in groups]
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    after = [group_usage(pids) for pids in groups]
    return [Usage((cpu - cpu0) / elapsed, rss) for cpu0, (cpu, rss) in zip(before, after)]


class Cluster:
    """SuperLink plus a growing and shrinking list of warm numpy SuperNodes."""

    def __init__(self, folder: Path, env: dict[str, str], client_ids: list[str], *,
                 samples_per_node: int = 200) -> None:
        from sklearn.datasets import load_digits

        self.folder, self.env, self.client_ids = folder, env, client_ids
        self.link = SuperLinkProcess(log_path=folder / "superlink.log", env=env)
        self.nodes: list[SuperNodeProcess] = []
        self.x, self.y = load_digits(return_X_y=True)
        self.order = np.random.default_rng(0).permutation(len(self.y))
        self.samples_per_node = samples_per_node
        self.startup_seconds: list[float] = []
        # Threads that start nodes must outlive them: a child's death signal
        # (_process.die_with_parent, PR_SET_PDEATHSIG) fires when the *thread* that
        # spawned it exits, so a pool shut down after start-up would stop every node.
        self.pool = ThreadPoolExecutor(4)

    def start(self) -> Cluster:
        self.link.start()
        return self

    def _data(self, index: int) -> Path:
        # The same amount of data on every node, whatever N: overlapping slices of digits.
        rows = self.order[np.arange(index * self.samples_per_node, (index + 1) * self.samples_per_node)
                          % len(self.order)]
        path = self.folder / "data" / f"node-{index}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=(self.x[rows] / 16.0).astype(np.float32), y=self.y[rows])
        return path

    def _start_node(self, index: int, poll: float) -> SuperNodeProcess:
        config = {"fedplane-client-id": self.client_ids[index], "data-path": str(self._data(index))}
        node = SuperNodeProcess(self.link.fleet_address, config, log_path=self.folder / f"node-{index}.log",
                                env={**self.env, "FEDPLANE_SUPERNODE_POLL": str(poll)}, warm=True,
                                preload=NUMPY_APP)
        started = time.monotonic()
        node.start(timeout=180)
        self.startup_seconds.append(time.monotonic() - started)
        return node

    def grow(self, count: int, *, poll: float) -> None:
        """Start nodes until ``count`` run (four at a time)."""
        futures = [self.pool.submit(self._start_node, i, poll) for i in range(len(self.nodes), count)]
        failure: BaseException | None = None
        for future in futures:  # keep every node that started, so stop() ends them
            if future.exception() is None:
                self.nodes.append(future.result())
            else:
                failure = failure or future.exception()
        if failure is not None:
            raise failure

    def shrink(self, count: int) -> None:
        """Stop the newest nodes until ``count`` remain."""
        while len(self.nodes) > count:
            self.nodes.pop().stop()

    def startup(self) -> str:
        s = sorted(self.startup_seconds)
        return f"median {statistics.median(s):.1f} s, max {s[-1]:.1f} s" if s else "none"

    def failures(self) -> str:
        """Evidence for a lost reply: nodes that exited, executors that gave up on a message."""
        dead = [i for i, node in enumerate(self.nodes) if not node.is_alive()]
        gave_up = [i for i, node in enumerate(self.nodes) if node.executor
                   and "ObjectPullError" in node.executor.log_text()]
        return f"nodes exited: {dead or 'none'}; executors that gave up pulling a message: {gave_up or 'none'}"

    def node_pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.pid]

    def executor_pids(self) -> list[int]:
        return [node.executor.pid for node in self.nodes if node.executor and node.executor.pid]

    def stop(self) -> None:
        self.shrink(0)
        self.link.stop()
        self.pool.shutdown()
