"""The fedplane side of ``bench/scale/simulation.py``: the product path, and what it recorded.

Part of ``bench/scale`` (a benchmark, never a test); needs Django set up by the caller.
``Platform`` starts what ``manage.py runplatform`` starts (the ASGI server and the two
Celery workers on the embedded default: SQLite, filesystem broker; no SuperLink, a
simulation needs none). An execution is created with ``POST /api/v1/fl/executions``
(``runtime: "simulation"``) and run by the ``fl`` queue's Celery worker in a fresh child
process; the bench reads the database only to wait for the end and to read the records.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings
from django.db import close_old_connections

from fedplane.ops.platform import PlatformProcesses

__all__ = ["FedplaneRun", "Platform", "WorkerStuck", "collect", "partitions_match"]

TERMINAL = ("completed", "failed", "stopped")


class WorkerStuck(RuntimeError):
    """No worker claimed the execution: the ``fl`` worker's pool child hangs (see README, bench/scale)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Platform:
    """The embedded platform's processes, and an API client holding a fresh admin key."""

    def __init__(self, *, concurrency: int = 1) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from fedplane.api.scopes import ALL_SCOPES
        from fedplane.api.services import api_key_issue

        for scope in ALL_SCOPES:  # what `manage.py createadmin` does
            Group.objects.get_or_create(name=scope)
        user, _ = get_user_model().objects.get_or_create(
            username="bench-sim", defaults={"is_staff": True, "is_superuser": True})
        _, key = api_key_issue(user=user, name="bench-sim", scopes=sorted(ALL_SCOPES))
        self.concurrency = concurrency
        self.processes = PlatformProcesses(port=_free_port(), worker_concurrency=concurrency)
        self.http = httpx.Client(base_url=f"{self.processes.url}/api/v1", headers={"X-API-Key": key}, timeout=120)

    def start(self) -> Platform:
        self.processes.start(timeout=300)
        return self

    def restart(self) -> None:
        """Fresh processes (same database and var dir), e.g. after the worker hung."""
        self.processes.stop()
        self.processes = PlatformProcesses(port=_free_port(), worker_concurrency=self.concurrency)
        self.http.base_url = f"{self.processes.url}/api/v1"
        self.start()

    def stop(self) -> None:
        self.http.close()
        self.processes.stop()

    def pool_pids(self) -> list[int]:
        """The ``fl`` worker's pool children: the idle one takes the next execution."""
        import psutil

        return [child.pid for child in psutil.Process(self.processes.procs["fl-worker"].pid).children()]

    def upload(self, name: str, content: bytes) -> dict[str, Any]:
        response = self.http.post("/fl/datasets", params={"name": name}, content=content,
                                  headers={"Content-Type": "application/octet-stream"})
        if response.status_code != 201:
            raise RuntimeError(f"dataset upload refused: {response.status_code} {response.text[:500]}")
        return response.json()["data"]

    def run(self, body: dict[str, Any], timeout: float, claim_timeout: float = 300.0) -> str:
        """Create the execution through the API and wait (reading the database) until it ends.

        ``WorkerStuck`` (after stopping the execution through the API) when no worker
        claimed it within ``claim_timeout``.
        """
        from flcore.models import TrainingExecution

        response = self.http.post("/fl/executions", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"execution refused: {response.status_code} {response.text[:1000]}")
        execution_id = response.json()["data"]["id"]
        began = time.monotonic()
        while time.monotonic() < began + timeout:
            close_old_connections()
            status = TrainingExecution.objects.values_list("status", flat=True).get(pk=execution_id)
            if status in TERMINAL:
                return execution_id
            if status == "queued" and time.monotonic() > began + claim_timeout:
                self.http.post(f"/fl/executions/{execution_id}/stop", json={"reason": "bench: no worker claimed it"})
                raise WorkerStuck(f"execution {execution_id} still queued after {claim_timeout:.0f} s; fl worker"
                                  f" log: {self.processes.log_dir / 'fl-worker.log'}")
            self.processes.check_alive()
            time.sleep(1.0)
        raise TimeoutError(f"execution {execution_id} still running after {timeout:.0f} s")


@dataclass
class FedplaneRun:
    execution_id: str
    status: str
    error: str
    round_seconds: list[float]  # completed_at[k] - completed_at[k-1], k = 2..R
    timings: list[dict[str, float]]  # TrainingRound.timings of rounds 2..R
    first_round_seconds: float  # round 1: started_at -> completed_at (Ray actors start in it)
    startup_seconds: float  # execution started (claimed) -> round 1 started
    problems: list[str] = field(default_factory=list)  # what is missing from the records
    run_config: dict[str, Any] = field(default_factory=dict)
    partition_dir: Path | None = None
    final_arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == "completed" and not self.problems

    @property
    def recording(self) -> list[float]:
        """Per measured round, the wall time not inside ``run_round`` (the timings' total)."""
        return [s - t["total"] for s, t in zip(self.round_seconds, self.timings)]


def collect(execution_id: str, n: int, rounds: int) -> FedplaneRun:
    """Round times and a completeness check of everything the execution recorded."""
    from fedplane.events.models import Event
    from flcore.artifacts import file_sha256, load_arrays
    from flcore.models import AggregatedModel, ClientUpdate, TrainingExecution, TrainingRound
    from flcore.services.datasets import partitions_folder
    from flcore.services.training_plan import run_config_of

    close_old_connections()
    execution = TrainingExecution.objects.get(pk=execution_id)
    rows = list(TrainingRound.objects.filter(execution=execution).order_by("round_number"))
    problems = []
    if [r.round_number for r in rows] != list(range(1, rounds + 1)):
        problems.append(f"rounds recorded: {[r.round_number for r in rows]}")
    expected = list(range(n))
    for row in rows:
        if row.status != "completed" or row.completed_at is None:
            problems.append(f"round {row.round_number} is {row.status}")
        for phase in ("train", "evaluate"):
            updates = list(ClientUpdate.objects.filter(round=row, phase=phase).values_list("partition_id", "error"))
            partitions = sorted(p for p, _ in updates if p is not None)
            errors = sum(1 for _, e in updates if e)
            if len(updates) != n or partitions != expected or errors:
                problems.append(f"round {row.round_number} {phase}: {len(updates)} updates, "
                                f"{len(set(partitions))} distinct partitions, {errors} errors")
        model = AggregatedModel.objects.filter(round=row).first()
        path = settings.FEDPLANE_ARTIFACT_ROOT / model.artifact_path if model else None
        if model is None or not path.exists() or file_sha256(path) != model.sha256:
            problems.append(f"round {row.round_number}: checkpoint missing or its sha256 differs")
    for kind, count in (("round.completed", rounds), ("client.update_received", n * rounds)):
        found = Event.objects.filter(type=kind, data__executionId=execution_id).count()
        if found != count:
            problems.append(f"{found} {kind} events, expected {count}")
    ends = [r.completed_at.timestamp() for r in rows if r.completed_at]
    final = AggregatedModel.objects.filter(execution=execution).order_by("-round_number").first()
    arrays = (load_arrays(settings.FEDPLANE_ARTIFACT_ROOT, final.artifact_path, final.sha256)
              if final is not None else {})
    first = rows[0] if rows else None
    return FedplaneRun(
        execution_id=execution_id, status=execution.status, error=execution.error_message,
        round_seconds=[b - a for a, b in zip(ends, ends[1:])],
        timings=[r.timings for r in rows[1:]],
        first_round_seconds=(first.completed_at - first.started_at).total_seconds() if first and first.completed_at
        else float("nan"),
        startup_seconds=(first.started_at - execution.started_at).total_seconds()
        if first and execution.started_at else float("nan"),
        problems=problems, run_config=run_config_of(execution), partition_dir=partitions_folder(execution),
        final_arrays=arrays)


def partitions_match(fedplane_dir: Path, plain_dir: Path, n: int) -> bool:
    """The plain side read the same rows as fedplane's virtual clients (array contents)."""
    for index in range(n):
        with np.load(fedplane_dir / f"partition-{index}.npz") as a, np.load(plain_dir / f"partition-{index}.npz") as b:
            if not (np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])):
                return False
    return True
