"""Model artifacts on disk: safetensors files with a sha256, written atomically.

Paths are relative to an artifact root the caller passes in (Django's
``FEDPLANE_ARTIFACT_ROOT``), so rows in the database stay valid when the root moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

__all__ = [
    "ORDER_KEY",
    "ArtifactCorrupted",
    "StoredArtifact",
    "file_sha256",
    "load_arrays",
    "load_state",
    "round_path",
    "save_arrays",
    "save_state",
    "state_path",
]

ORDER_KEY = "fedplane.order"  # safetensors sorts tensors by name; this keeps the state-dict order
_CHUNK = 1 << 20


class ArtifactCorrupted(Exception):
    """A stored artifact's bytes no longer match the sha256 recorded for it."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"artifact {path} is corrupted: sha256 {actual}, expected {expected}")
        self.path, self.expected, self.actual = path, expected, actual


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact lives (relative to the root), its digest and its size."""

    path: str
    sha256: str
    size_bytes: int


def round_path(execution_id: object, round_number: int) -> str:
    """Relative path of an execution's aggregated model after ``round_number``."""
    return f"executions/{execution_id}/round-{int(round_number)}.safetensors"


def state_path(model_path: str) -> str:
    """Relative path of the auxiliary state stored next to a model artifact."""
    return str(PurePosixPath(model_path).with_suffix(".state.safetensors"))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve(root: str | os.PathLike[str], path: str) -> Path:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"artifact path must be relative and inside the root: {path!r}")
    return Path(root) / rel


def save_arrays(
    root: str | os.PathLike[str],
    path: str,
    arrays: Mapping[str, np.ndarray],
    *,
    metadata: Mapping[str, str] | None = None,
) -> StoredArtifact:
    """Write ``arrays`` to ``root/path`` (temp file, fsync, rename) and return its digest."""
    target = _resolve(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # np.ascontiguousarray would turn a 0-d tensor into shape (1,)
    tensors = {name: np.asarray(a, order="C") for name, a in arrays.items()}
    header = {**(metadata or {}), ORDER_KEY: json.dumps(list(tensors))}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest, size = file_sha256(tmp), os.path.getsize(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return StoredArtifact(path=str(PurePosixPath(path)), sha256=digest, size_bytes=size)


def load_arrays(
    root: str | os.PathLike[str], path: str, expected_sha256: str | None = None
) -> dict[str, np.ndarray]:
    """Arrays of ``root/path`` in their saved order; ``ArtifactCorrupted`` on a digest mismatch."""
    target = _resolve(root, path)
    if expected_sha256 is not None:
        actual = file_sha256(target)
        if actual != expected_sha256.lower():
            raise ArtifactCorrupted(path, expected_sha256, actual)
    with safe_open(str(target), framework="np") as fh:
        meta = fh.metadata() or {}
        names = json.loads(meta[ORDER_KEY]) if ORDER_KEY in meta else list(fh.keys())
        return {name: fh.get_tensor(name) for name in names}


def save_state(
    root: str | os.PathLike[str], model_path: str, state: Mapping[str, np.ndarray]
) -> StoredArtifact:
    """Store auxiliary arrays (e.g. a server optimiser's moments) next to a model artifact."""
    return save_arrays(root, state_path(model_path), state)


def load_state(
    root: str | os.PathLike[str], model_path: str, expected_sha256: str | None = None
) -> dict[str, np.ndarray]:
    """The auxiliary arrays stored next to ``model_path`` by :func:`save_state`."""
    return load_arrays(root, state_path(model_path), expected_sha256)
