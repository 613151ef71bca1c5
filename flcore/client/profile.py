"""A client's data profile, computed locally from its data file (the data never leaves)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.local_data import read_xy  # numpy only: joining needs no torch

__all__ = ["data_profile"]


def data_profile(path: str | Path) -> dict:
    """samples, label distribution, and a quality grade from missing values and class balance."""
    x, y = read_xy(Path(path))
    labels, counts = np.unique(y.astype(int), return_counts=True)
    missing = float(np.isnan(x).mean()) if x.size else 0.0
    smallest_share = counts.min() / counts.sum() if counts.size else 0.0
    quality = "high" if missing == 0 and len(y) >= 100 else "medium" if missing < 0.05 else "low"
    return {
        "samples": int(len(y)),
        "features": int(x.shape[1]) if x.ndim == 2 else 0,
        "distribution": {str(int(k)): int(v) for k, v in zip(labels, counts)},
        "quality": quality,
        "missingFraction": round(missing, 6),
        "smallestClassShare": round(float(smallest_share), 6),
    }
