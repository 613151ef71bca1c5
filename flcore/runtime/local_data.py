"""A node's local data: where it is, how it is read and split. numpy only (no torch).

Shared by fedplane's torch ClientApp (``app.py`` through ``model.py``) and the light
numpy one (``numpy_app.py``), so both read the same files, use the same defaults and
hold out the same evaluation rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULTS", "data_path_of", "eval_split", "read_xy", "setting"]

DEFAULTS: dict[str, Any] = {
    "hidden-dim": 64,
    "seed": 0,
    "local-epochs": 1,
    "batch-size": 32,
    "learning-rate": 0.05,
    "proximal-mu": 0.0,
    "eval-fraction": 0.2,
}


def setting(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]`` or fedplane's default for it."""
    return config.get(key, DEFAULTS.get(key))


def data_path_of(node_config: Mapping[str, Any], run_config: Mapping[str, Any]) -> Path:
    """The node's data file.

    A SuperNode started by fedplane names it in ``--node-config data-path=...``. A
    simulation's virtual client has only Flower's ``partition-id``: its file is
    ``<partition-dir>/partition-<id>.npz`` with ``partition-dir`` from the run config.
    """
    if "data-path" in node_config:
        return Path(str(node_config["data-path"]))
    if "partition-id" in node_config and "partition-dir" in run_config:
        partition = int(node_config["partition-id"])
        return Path(str(run_config["partition-dir"])) / f"partition-{partition}.npz"
    raise KeyError("node config has no data-path, and no partition-id with a run config partition-dir")


def read_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a ``.npz`` (``x``, ``y``) or ``.csv`` (``label`` column) file."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            return npz["x"], npz["y"]
    # CSV with a header; the ``label`` column is the target, the rest features.
    header = path.open().readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    label = header.index("label")
    return np.delete(table, label, axis=1), table[:, label]


def eval_split(count: int, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a seeded ``eval-fraction`` of ``count`` rows, at least one."""
    order = np.random.default_rng(int(setting(config, "seed"))).permutation(count)
    n_eval = max(1, int(count * float(setting(config, "eval-fraction"))))
    return order[n_eval:], order[:n_eval]
