"""Flower 1.41 runtime for fedplane: SuperLink/SuperNode processes and the driver.

Plain Python, no Django: Celery tasks call ``run_execution`` in a prefork worker
process (one Flower run per OS process at a time). See docs/flower.md.
The ClientApp (``flcore.runtime.app``, imports torch) is not imported here.
"""

from .control import run_status, stop_run
from .driver import FlowerDriver
from .errors import (
    ClientDisconnected,
    FlowerRuntimeError,
    InsufficientClients,
    ProcessStartError,
    RunStopped,
)
from .execution import run_execution
from .fab import build_fab
from .records import ClientUpdate, ExecutionResult, RoundDirective, RoundRecord
from .rounds import run_round
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
    "RunStopped",
    "SuperLinkProcess",
    "SuperNodeProcess",
    "TlsFiles",
    "build_fab",
    "run_execution",
    "run_round",
    "run_status",
    "stop_run",
]
