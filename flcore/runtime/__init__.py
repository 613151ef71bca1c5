"""Flower 1.41 runtime for fedplane: SuperLink/SuperNode processes, the driver, simulations.

Plain Python, no Django: Celery tasks call ``run_execution`` (or ``run_simulation``) in a
prefork worker process (one Flower run per OS process at a time). See docs/flower.md and
docs/simulation.md. The ClientApp (``flcore.runtime.app``, imports torch) is not imported
here.

Names load on first use: a client machine's ``fedplane-client`` needs the SuperNode
launcher and its key, not the server side (a saving of about 90 MB and a second of
CPU per client process).
"""

import importlib
import os as _os
from typing import Any

# Flower reads these once, on import: no calls home from a worker or a simulation.
_os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
_os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

_WHERE = {
    "control": ["list_nodes", "register_node", "run_status", "stop_run", "unregister_node"],
    "credentials": ["generate_dev_tls", "generate_node_key", "node_key", "public_key_pem"],
    "driver": ["FlowerDriver"],
    "errors": ["AggregationFailed", "ClientAppFailed", "ClientDisconnected", "Diverged", "FlowerRuntimeError",
               "InsufficientClients", "ProcessStartError", "RunStopped", "SuperLinkInterrupted", "TooManyFailures"],
    "execution": ["run_execution"],
    "simulation": ["SimulationUnavailable", "check_ray_reachable", "run_simulation"],
    "fab": ["build_fab"],
    "records": ["ClientUpdate", "ExecutionResult", "RoundDirective", "RoundRecord", "RoundSettings", "Straggler"],
    "rounds": ["run_round"],
    "secure": ["SecureAggregation", "run_secure_round"],
    "superlink": ["SuperLinkProcess", "TlsFiles"],
    "supernode": ["SuperNodeProcess"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
