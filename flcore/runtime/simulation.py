"""Run a fedplane execution on Flower's Simulation Engine: virtual clients as Ray actors.

Flower's ``run_simulation`` runs a ServerApp in a thread with an in-memory grid and
the virtual SuperNodes' ClientApps on a Ray actor pool. fedplane's ServerApp is its
own round loop (``RoundLoop``), the same one a deployment run goes through, so a
simulation has the same strategies, privacy, records, checkpoints and stop/resume.

Ray is started here, before Flower's backend would start it, so that a cluster that
is unreachable or too small fails in seconds with the cause (Flower would wait, or
leave actors pending forever). Without ``ray_address`` a new local Ray instance is
started (``"local"``: never an instance some other program left behind); with one,
the simulation joins that cluster, whose workers must be able to import the
ClientApp (fedplane's package installed, or on the ``PYTHONPATH`` handed to them).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flwr.app import Context, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import RUN_ID_NUM_BYTES, SUPERLINK_NODE_ID, TASK_ID_NUM_BYTES
from flwr.server.superlink.linkstate.utils import generate_rand_int_from_bytes
from flwr.serverapp import Grid, ServerApp
from flwr.simulation.run_simulation import _run_simulation
from flwr.supercore.constant import NOOP_FEDERATION_ID
from flwr.supercore.object_ref import load_app
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from flwr.supercore.telemetry import EventType

from .driver import NodeSelection
from .errors import FlowerRuntimeError
from .fab import pyproject_of
from .grid import SimulationGrid
from .loop import RoundLoop
from .records import ExecutionResult

__all__ = ["ClientResources", "SimulationUnavailable", "check_ray_reachable", "run_simulation"]

ClientResources = Mapping[str, float]  # {"num_cpus": 1, "num_gpus": 0.0}


class SimulationUnavailable(FlowerRuntimeError):
    """The Ray cluster cannot run this simulation (unreachable, too small, no ClientApp)."""


class SimulationDriver(NodeSelection):
    """The ServerApp side of one simulation: the in-memory grid and the run's identity."""

    def __init__(self, grid: Grid, *, poll_interval: float = 0.05) -> None:
        super().__init__(None, None, poll_interval)
        self._grid = SimulationGrid(grid, poll_interval=poll_interval, allowed=self._allowed)
        self.run_id = grid.run.run_id

    @property
    def grid(self) -> SimulationGrid:
        return self._grid

    def finish(self, status: str, details: str = "") -> None:
        """Nothing to tell: the engine ends when the ServerApp returns."""


def check_ray_reachable(address: str, timeout: float = 3.0) -> None:
    """Raise ``SimulationUnavailable`` unless ``address`` (host:port or ray://host:port) accepts TCP."""
    if address in ("", "local", "auto"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname, parts.port
    if not host or not port:
        raise SimulationUnavailable(f"RAY_ADDRESS {address!r} is not host:port or ray://host:port")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise SimulationUnavailable(
            f"the Ray cluster at {address} is unreachable ({exc.strerror or exc}) after {timeout:g} s"
        ) from exc


@contextmanager
def _file_backed_std_streams() -> Iterator[None]:
    """A Celery worker's sys.stdout/stderr are logging proxies without a file descriptor;
    Ray enables ``faulthandler`` on stderr when it connects, which needs one."""
    saved = sys.stdout, sys.stderr
    try:
        if not _has_fileno(sys.stderr):
            sys.stderr = sys.__stderr__
        if not _has_fileno(sys.stdout):
            sys.stdout = sys.__stdout__
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _start_ray(address: str, resources: ClientResources, connect_timeout: float,
               local_cpus: int | None) -> dict[str, Any]:
    """Join (or start) Ray, check it can hold at least one virtual client; what it has."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report home from a worker
    check_ray_reachable(address, connect_timeout)
    pythonpath = os.pathsep.join([*sys.path, *filter(None, [os.environ.get("PYTHONPATH")])])
    with _file_backed_std_streams():
        ray.init(address=address or "local", include_dashboard=False, logging_level="WARNING",
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                 **({"num_cpus": local_cpus} if local_cpus and not address else {}))
    total = ray.cluster_resources()
    for name, wanted in (("CPU", resources.get("num_cpus", 1)), ("GPU", resources.get("num_gpus", 0))):
        if wanted and total.get(name, 0) < wanted:
            ray.shutdown()
            raise SimulationUnavailable(
                f"each virtual client asks for {wanted:g} {name}(s); the Ray cluster"
                f"{' at ' + address if address else ''} has {total.get(name, 0):g}"
            )
    return {"rayAddress": address or "local", "gcsAddress": ray.get_runtime_context().gcs_address,
            "local": not address,
            "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
            "cpus": total.get("CPU", 0.0), "gpus": total.get("GPU", 0.0)}


def _run_for(loop: RoundLoop) -> Run:
    run = Run.create_empty(run_id=generate_rand_int_from_bytes(RUN_ID_NUM_BYTES))
    run.primary_task_id = generate_rand_int_from_bytes(TASK_ID_NUM_BYTES)
    run.federation_id = NOOP_FEDERATION_ID
    run.override_config = dict(loop.run_config)
    return run


def run_simulation(
    *,
    num_supernodes: int,
    client_resources: ClientResources | None = None,
    ray_address: str = "",
    ray_connect_timeout: float = 5.0,
    local_cpus: int | None = None,
    on_thread_exit: Callable[[], None] | None = None,
    on_cluster: Callable[[dict[str, Any]], None] | None = None,
    **loop: Any,
) -> ExecutionResult:
    """Run rounds ``round_offset + 1`` .. ``num_rounds`` with ``num_supernodes`` virtual clients.

    ``loop`` holds ``RoundLoop``'s fields (see flcore/runtime/loop.py); its callbacks
    run in the simulation's ServerApp thread, and ``on_thread_exit`` last of all in that
    thread (e.g. to close its database connection). Virtual node ``i`` gets Flower's node
    config ``partition-id = i`` and ``num-partitions``; the run config reaches every
    ClientApp as ``context.run_config``. Without ``ray_address`` a local Ray with
    ``local_cpus`` CPUs (default: all) is started for this run. ``client_resources`` sets how much of the
    cluster each virtual client holds, so how many run at once. Raises
    ``SimulationUnavailable`` when Ray cannot run it, and the round loop's errors.
    """
    rounds = RoundLoop(**loop)
    client_app = load_app(rounds.clientapp, SimulationUnavailable)
    if not isinstance(client_app, ClientApp):
        raise SimulationUnavailable(f"{rounds.clientapp} is not a Flower ClientApp")
    resources = dict(client_resources or {"num_cpus": 1, "num_gpus": 0.0})
    outcome: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def _drive(grid: Grid, _context: Context) -> None:
        try:
            outcome["result"] = rounds.run(SimulationDriver(grid))
        except Exception as exc:  # the engine only logs its ServerApp's errors: hand ours to the caller
            outcome["error"] = exc
            raise
        finally:
            if on_thread_exit is not None:
                on_thread_exit()

    cluster = _start_ray(ray_address, resources, ray_connect_timeout, local_cpus)
    run = _run_for(rounds)
    # Message() reads the process-global task identity (one Flower run per process).
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, run.run_id, SUPERLINK_NODE_ID
    try:
        if on_cluster is not None:
            on_cluster(cluster)
        with tempfile.TemporaryDirectory(prefix="fedplane-sim-") as app_dir:
            # The engine hands each virtual node the run config of the app's pyproject.toml.
            Path(app_dir, "pyproject.toml").write_text(pyproject_of(rounds.run_config, clientapp=rounds.clientapp))
            _run_simulation(
                num_supernodes=num_supernodes, exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
                client_app=client_app, server_app=server_app, backend_name="ray",
                backend_config={"client_resources": resources, "init_args": {}, "actor": {"tensorflow": 0}},
                server_app_context=Context(run_id=run.run_id, node_id=0, node_config={}, state=RecordDict(),
                                           run_config=dict(rounds.run_config)),
                app_dir=app_dir, is_app=True, run=run,
            )
    finally:
        TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]
        _stop_ray()
    if "error" in outcome:
        raise outcome["error"]
    if "result" not in outcome:
        raise FlowerRuntimeError("the simulation ended before its ServerApp finished")
    return outcome["result"]


def _stop_ray() -> None:
    """Flower's backend shuts Ray down when it ran; make sure it did (an early error may skip it)."""
    import ray

    deadline = time.monotonic() + 10
    while ray.is_initialized() and time.monotonic() < deadline:
        ray.shutdown()
