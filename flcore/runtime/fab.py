"""Build the in-memory FAB (Flower App Bundle) that a fedplane run ships.

The FAB holds only ``pyproject.toml``: it names the ClientApp to import on each
SuperNode (an installed/importable module, fedplane's by default) and carries the
execution's run config. Code can be shipped too via ``extra_files``.
"""

from __future__ import annotations

from collections.abc import Mapping

import tomli_w

__all__ = ["DEFAULT_CLIENTAPP", "build_fab", "pyproject_of"]

DEFAULT_CLIENTAPP = "flcore.runtime.app:app"
# Flower requires a ServerApp reference, but fedplane never loads it: the driver
# (flcore.runtime.driver) plays the ServerApp inside the Celery task process.
_SERVERAPP_NOT_LOADED = "flcore.runtime.driver:SERVERAPP_NOT_LOADED"

RunConfigValue = str | int | float | bool


def pyproject_of(
    run_config: Mapping[str, RunConfigValue],
    *,
    clientapp: str = DEFAULT_CLIENTAPP,
    name: str = "fedplane-app",
    version: str = "1.0.0",
    publisher: str = "fedplane",
) -> str:
    """The app's ``pyproject.toml``: its ClientApp and the whole run config."""
    pyproject = {
        "project": {"name": name, "version": version, "dependencies": []},
        "tool": {
            "flwr": {
                "app": {
                    "publisher": publisher,
                    "components": {
                        "serverapp": _SERVERAPP_NOT_LOADED,
                        "clientapp": clientapp,
                    },
                    "config": dict(run_config),
                }
            }
        },
    }
    return tomli_w.dumps(pyproject)


def build_fab(
    run_config: Mapping[str, RunConfigValue],
    *,
    clientapp: str = DEFAULT_CLIENTAPP,
    name: str = "fedplane-app",
    version: str = "1.0.0",
    publisher: str = "fedplane",
    extra_files: Mapping[str, bytes] | None = None,
) -> bytes:
    """Return FAB bytes whose ``[tool.flwr.app.config]`` is ``run_config``.

    The whole run config goes in the FAB (not in StartRun's override_config),
    because Flower rejects override keys the FAB does not already declare.
    """
    from flwr.cli.build import build_fab_from_files  # imports FastAPI: not for client processes

    pyproject = pyproject_of(run_config, clientapp=clientapp, name=name, version=version, publisher=publisher)
    files: dict[str, bytes] = {"pyproject.toml": pyproject.encode()}
    files.update(extra_files or {})
    fab, _metadata = build_fab_from_files(files)
    return fab
