"""Datasets a simulation splits among its virtual clients: the digits demo or an upload.

An execution names its dataset (``"digits"`` or an uploaded dataset's id) and how to
split it; the split is computed when the execution is created (so bad input is refused
then) and recorded with it, and the worker that runs it writes one ``.npz`` per
virtual client under the artifact root, where the ClientApps read them.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from fedplane.api.errors import Conflict, DomainError

from ..errors import DatasetNotFound
from ..models import TrainingDataset, TrainingExecution
from ..partitioning import PartitioningError, Split, split, write_partitions
from ..runtime.local_data import read_xy

__all__ = ["DIGITS", "LoadedDataset", "dataset_delete", "dataset_get", "dataset_upload", "load_dataset",
           "partition_dataset", "partitions_folder", "materialize_partitions"]

DIGITS = "digits"  # scikit-learn's handwritten digits: 1,797 samples, 64 features, 10 classes
FORMATS = ("npz", "csv")
_CHUNK = 1 << 20


def _invalid(message: str, **details) -> DomainError:
    return DomainError(message, code="VALIDATION_ERROR", status=422, details=details)


@dataclass(frozen=True)
class LoadedDataset:
    ref: str  # "digits" or the uploaded dataset's id
    name: str
    sha256: str
    x: np.ndarray
    y: np.ndarray

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    def describe(self) -> dict:
        return {"ref": self.ref, "name": self.name, "sha256": self.sha256, "samples": int(len(self.y)),
                "features": int(self.x.shape[1]), "classes": self.num_classes}


def _checked_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features as a finite 2-D float32 table, labels as integers 0..K-1, one per row."""
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise _invalid("x must be a table (samples x features) and y one label per row",
                       x_shape=list(x.shape), y_shape=list(y.shape))
    if len(y) < 2:
        raise _invalid("a dataset needs at least 2 samples")
    try:
        features = np.asarray(x, dtype=np.float32)
        labels = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _invalid(f"x and y must be numeric: {exc}") from exc
    if not np.isfinite(features).all():
        raise _invalid("x has values that are not finite (NaN or infinity)")
    if not np.isfinite(labels).all() or (labels != np.round(labels)).any() or labels.min() < 0:
        raise _invalid("labels must be whole numbers 0, 1, 2, ... (class indices)")
    return features, labels.astype(np.int64)


def _digits() -> LoadedDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    return LoadedDataset(DIGITS, "scikit-learn digits", digest, x, y)


def dataset_get(dataset_id) -> TrainingDataset:
    try:
        return TrainingDataset.objects.get(pk=dataset_id)
    except (TrainingDataset.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise DatasetNotFound(f"Dataset {dataset_id} not found.", details={"datasetId": str(dataset_id)})


def dataset_upload(*, user, name: str, chunks: Iterable[bytes], file_format: str | None = None) -> TrainingDataset:
    """Store an uploaded ``.npz`` (``x``, ``y``) or ``.csv`` (a ``label`` column) after checking it."""
    fmt = (file_format or Path(name).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise _invalid("name the file .npz or .csv, or pass format=npz|csv", name=name, format=fmt)
    root = settings.FEDPLANE_ARTIFACT_ROOT / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    limit = settings.MAX_REQUEST_BODY_BYTES  # a chunked body has no Content-Length for the middleware to check
    with tempfile.NamedTemporaryFile(dir=root, suffix=f".{fmt}", delete=False) as tmp:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                break
            tmp.write(chunk)
            digest.update(chunk)
    staged = Path(tmp.name)
    if size > limit:
        staged.unlink(missing_ok=True)
        raise DomainError(f"The upload exceeds the limit of {limit} bytes.", code="PAYLOAD_TOO_LARGE",
                          status=413, details={"limit": limit})
    try:
        try:
            x, y = read_xy(staged)
        except Exception as exc:  # whatever numpy or the csv reader say, the file is not usable
            raise _invalid(f"not a readable .{fmt} dataset: {type(exc).__name__}: {exc}"[:500],
                           expected="npz with arrays x, y" if fmt == "npz" else "csv with a header and a label column"
                           ) from exc
        x, y = _checked_xy(np.asarray(x), np.asarray(y))
        with transaction.atomic():
            row = TrainingDataset(name=name[:200] or f"upload.{fmt}", file_format=fmt, path="", sha256=digest.hexdigest(),
                                  size_bytes=size, num_samples=len(y), num_features=x.shape[1],
                                  num_classes=int(y.max()) + 1, created_by=user if user and user.is_authenticated else None)
            row.path = f"datasets/{row.pk}.{fmt}"
            staged.replace(settings.FEDPLANE_ARTIFACT_ROOT / row.path)
            row.save()
        return row
    finally:
        staged.unlink(missing_ok=True)


def dataset_delete(*, dataset_id) -> None:
    """Refused while an execution names it: its partitions could not be written again to resume it."""
    row = dataset_get(dataset_id)
    users = TrainingExecution.objects.filter(config__dataset=str(row.pk)).values_list("pk", flat=True)[:10]
    if users:
        raise Conflict("The dataset is used by executions; it stays so they can resume.",
                       details={"executions": [str(pk) for pk in users]})
    (settings.FEDPLANE_ARTIFACT_ROOT / row.path).unlink(missing_ok=True)
    row.delete()


def load_dataset(ref: str) -> LoadedDataset:
    """The digits demo, or an upload read back and checked against its recorded sha256."""
    if ref == DIGITS:
        return _digits()
    row = dataset_get(ref)
    path = settings.FEDPLANE_ARTIFACT_ROOT / row.path
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != row.sha256:
        raise DomainError(f"dataset {row.pk} changed on disk since it was uploaded", code="FL003", status=500)
    x, y = read_xy(path)
    return LoadedDataset(str(row.pk), row.name, row.sha256, *_checked_xy(np.asarray(x), np.asarray(y)))


def _split(data: LoadedDataset, count: int, partitioning: dict) -> Split:
    try:
        return split(data.y, count, method=partitioning.get("method", "iid"),
                     alpha=float(partitioning.get("alpha", 0.5)), seed=int(partitioning.get("seed", 0)))
    except PartitioningError as exc:
        raise _invalid(str(exc), numSupernodes=count, samples=int(len(data.y)), partitioning=partitioning) from exc


def partition_dataset(*, ref: str, count: int, partitioning: dict) -> dict:
    """The record an execution keeps of its split: dataset, method, seed and per-client sizes."""
    try:
        data = load_dataset(ref)
    except DatasetNotFound as exc:
        raise _invalid(f"unknown dataset {ref!r}: use {DIGITS!r} or the id of an upload (POST /fl/datasets)",
                       dataset=ref) from exc
    parts = _split(data, count, partitioning)
    method = partitioning.get("method", "iid")
    return {"dataset": data.describe(), "method": method, "seed": int(partitioning.get("seed", 0)),
            **({"alpha": float(partitioning.get("alpha", 0.5))} if method == "dirichlet" else {}),
            "numPartitions": count, **parts.summary(data.y, data.num_classes)}


def partitions_folder(execution: TrainingExecution) -> Path:
    return settings.FEDPLANE_ARTIFACT_ROOT / "simulations" / str(execution.pk) / "partitions"


def materialize_partitions(execution: TrainingExecution) -> Path:
    """Write (or find) the execution's partition files, exactly as recorded at its creation."""
    record = execution.data_partitioning
    folder = partitions_folder(execution)
    done = folder / "COMPLETE"
    if done.exists() and done.read_text() == record["dataset"]["sha256"]:
        return folder
    data = load_dataset(record["dataset"]["ref"])
    parts = _split(data, int(record["numPartitions"]), record)
    if [len(p) for p in parts.parts] != record["sizes"] or data.sha256 != record["dataset"]["sha256"]:
        raise DomainError("the dataset no longer splits as recorded for this execution", code="FL003", status=500)
    write_partitions(data.x, data.y, parts, folder)
    done.write_text(data.sha256)
    return folder
