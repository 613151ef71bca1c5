"""The synthetic dataset bench/scale/simulation.py uploads, without Django (the plain side needs none).

Part of ``bench/scale`` (a benchmark, never a test).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["synthetic", "write_iid_partitions"]


def synthetic(rows: int = 20_000, features: int = 64, classes: int = 10,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class: learnable by fedplane's MLP in a few rounds (not in one)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(classes, features))
    y = rng.integers(0, classes, size=rows).astype(np.int64)
    x = (centers[y] + rng.normal(0.0, 5.0, size=(rows, features))).astype(np.float32)
    return x, y


def write_iid_partitions(x: np.ndarray, y: np.ndarray, n: int, folder: Path) -> Path:
    """``partition-<i>.npz`` as fedplane writes them for ``partitioning: {"method": "iid", "seed": 0}``."""
    from flcore.partitioning import split, write_partitions

    write_partitions(x, y, split(y, n, method="iid", seed=0), folder)
    return folder
