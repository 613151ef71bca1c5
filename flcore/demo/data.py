"""The demo's data: scikit-learn's digits, split non-IID across clients, plus a held-out test set."""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_digits_partitions", "load_test_set"]


def write_digits_partitions(folder: Path, clients: int = 3, *, alpha: float = 0.5, seed: int = 7,
                            test_fraction: float = 0.2) -> tuple[list[Path], Path]:
    """Label-skewed partitions (Dirichlet(alpha) class shares per client) as .npz files.

    Returns the client files and the held-out test file. Features are scaled to [0, 1].
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    folder.mkdir(parents=True, exist_ok=True)
    test_path = folder / "test.npz"
    np.savez(test_path, x=x[test], y=y[test])
    shards: list[list[int]] = [[] for _ in range(clients)]
    for label in range(10):
        members = rng.permutation(train[y[train] == label])
        shares = rng.dirichlet([alpha] * clients)
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
        for shard, part in zip(shards, np.split(members, cuts)):
            shard.extend(part.tolist())
    paths = []
    for index, shard in enumerate(shards):
        path = folder / f"client-{index + 1}.npz"
        np.savez(path, x=x[shard], y=y[shard])
        paths.append(path)
    return paths, test_path


def load_test_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as npz:
        return npz["x"], npz["y"]
