"""Flower 1.41 runtime for fedplane: SuperLink/SuperNode processes and the driver.

Plain Python, no Django: Celery tasks call ``run_execution`` in a prefork worker
process (one Flower run per OS process at a time). See docs/flower.md.
The ClientApp (``flcore.runtime.app``, imports torch) is not imported here.
"""

import os as _os

# Flower reads these once, on import: no calls home from a worker or a simulation.
_os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
_os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

# pylint: disable=wrong-import-position
from .control import list_nodes, register_node, run_status, stop_run, unregister_node
from .credentials import generate_dev_tls, generate_node_key, node_key, public_key_pem
from .driver import FlowerDriver
from .errors import (
    ClientDisconnected,
    FlowerRuntimeError,
    InsufficientClients,
    ProcessStartError,
    RunStopped,
    TooManyFailures,
)
from .execution import run_execution
from .simulation import SimulationUnavailable, check_ray_reachable, run_simulation
from .fab import build_fab
from .records import ClientUpdate, ExecutionResult, RoundDirective, RoundRecord, RoundSettings, Straggler
from .rounds import run_round
from .secure import SecureAggregation, run_secure_round
from .superlink import SuperLinkProcess, TlsFiles
from .supernode import SuperNodeProcess

__all__ = [
    "ClientDisconnected",
    "ClientUpdate",
    "ExecutionResult",
    "FlowerDriver",
    "FlowerRuntimeError",
    "InsufficientClients",
    "ProcessStartError",
    "RoundDirective",
    "RoundRecord",
    "RoundSettings",
    "RunStopped",
    "SimulationUnavailable",
    "Straggler",
    "TooManyFailures",
    "SecureAggregation",
    "SuperLinkProcess",
    "SuperNodeProcess",
    "TlsFiles",
    "build_fab",
    "generate_dev_tls",
    "generate_node_key",
    "list_nodes",
    "node_key",
    "public_key_pem",
    "register_node",
    "unregister_node",
    "check_ray_reachable",
    "run_execution",
    "run_simulation",
    "run_round",
    "run_secure_round",
    "run_status",
    "stop_run",
]
