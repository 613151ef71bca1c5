"""Split a labelled dataset into one partition per virtual client: IID or Dirichlet(alpha).

Pure numpy and seeded: the same dataset, method, alpha, seed and count give the same
partitions on any machine, so an execution records only those and its partition
sizes, and any worker that runs (or resumes) it writes the same files again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PartitioningError", "Split", "split", "write_partitions"]

# Dirichlet draws that leave a client below the minimum are drawn again, this often.
_DIRICHLET_ATTEMPTS = 50


class PartitioningError(ValueError):
    """The dataset cannot be split that way (too few samples for the clients, alpha too small)."""


@dataclass(frozen=True)
class Split:
    """Row indices of each partition, and what a user wants to see about them."""

    parts: list[np.ndarray]

    def summary(self, y: np.ndarray, num_classes: int) -> dict:
        sizes = [int(len(p)) for p in self.parts]
        return {"sizes": sizes, "minSize": min(sizes), "maxSize": max(sizes),
                "labelCounts": [np.bincount(y[p].astype(np.int64), minlength=num_classes).tolist()
                                for p in self.parts]}


def split(y: np.ndarray, num_partitions: int, *, method: str = "iid", alpha: float = 0.5, seed: int = 0,
          min_size: int = 2) -> Split:
    """Partition row indices of labels ``y`` among ``num_partitions`` clients.

    ``iid``: a seeded shuffle cut into near-equal parts. ``dirichlet``: for each label,
    client shares drawn from Dirichlet(alpha) (small alpha: each client sees few labels),
    drawn again while any client has fewer than ``min_size`` rows (a client needs one
    row to train on and one to evaluate).
    """
    count = len(y)
    if num_partitions < 1:
        raise PartitioningError("the number of partitions must be at least 1")
    if count < num_partitions * min_size:
        raise PartitioningError(
            f"{count} samples cannot give {num_partitions} clients {min_size} samples each "
            f"(at most {count // min_size} clients for this dataset)")
    rng = np.random.default_rng(seed)
    if method == "iid":
        return Split([np.sort(part) for part in np.array_split(rng.permutation(count), num_partitions)])
    if method != "dirichlet":
        raise PartitioningError(f"unknown partitioning method {method!r}; use iid or dirichlet")
    if alpha <= 0:
        raise PartitioningError("dirichlet alpha must be greater than 0")
    labels = np.unique(y)
    for _ in range(_DIRICHLET_ATTEMPTS):
        shards: list[list[np.ndarray]] = [[] for _ in range(num_partitions)]
        for label in labels:
            members = rng.permutation(np.flatnonzero(y == label))
            cuts = (np.cumsum(rng.dirichlet([alpha] * num_partitions))[:-1] * len(members)).astype(int)
            for shard, piece in zip(shards, np.split(members, cuts), strict=True):
                shard.append(piece)
        parts = [np.sort(np.concatenate(shard)) for shard in shards]
        if min(len(p) for p in parts) >= min_size:
            return Split(parts)
    raise PartitioningError(
        f"Dirichlet(alpha={alpha:g}) left some of {num_partitions} clients with fewer than {min_size} samples "
        f"in {_DIRICHLET_ATTEMPTS} draws; use a larger alpha, fewer clients or iid")


def write_partitions(x: np.ndarray, y: np.ndarray, result: Split, folder: Path) -> None:
    """``folder/partition-<i>.npz`` (``x``, ``y``) for each partition: what virtual client i loads."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, rows in enumerate(result.parts):
        target = folder / f"partition-{index}.npz"
        partial = folder / f".partition-{index}.npz"  # numpy appends .npz to names without it
        np.savez(partial, x=x[rows], y=y[rows])
        partial.replace(target)  # a reader never sees half a file
