"""Model registry: models, versions and their artifacts in a home region's store."""
from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from fedplane.api.errors import Conflict, DomainError
from fedplane.events.services import emit

from ..choices import ArtifactFormat, ReplicaStatus
from ..errors import ModelNotFound, VersionNotFound
from ..models import ModelVersion, RegisteredModel, Replica
from ..stores import store_for
from .loading import build_sequential, check_onnx, infer_input_schema
from .regions import region_get
from .routing import forget

__all__ = ["model_get", "model_create", "model_update", "version_get", "version_create", "version_upload",
           "version_promote_aggregated", "latest_version"]

_EXT = {ArtifactFormat.TORCHSCRIPT: "pt", ArtifactFormat.TORCH_STATE_DICT: "pth", ArtifactFormat.ONNX: "onnx"}


def model_get(name: str) -> RegisteredModel:
    try:
        return RegisteredModel.objects.get(name=name)
    except RegisteredModel.DoesNotExist:
        raise ModelNotFound(f"Model '{name}' not found.", details={"model_id": name}) from None


def version_get(model_name: str, version: str) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("model", "home_region").get(model__name=model_name,
                                                                              version=version)
    except ModelVersion.DoesNotExist:
        model_get(model_name)  # MODEL_NOT_FOUND when the model itself is unknown
        raise VersionNotFound(f"Model '{model_name}' has no version '{version}'.",
                              details={"model_id": model_name, "version": version}) from None


def latest_version(model: RegisteredModel) -> ModelVersion | None:
    return model.versions.exclude(sha256="").order_by("-created_at", "-pk").first()


@transaction.atomic
def model_create(*, name: str, description: str = "", user=None,
                 batching: dict[str, Any] | None = None) -> RegisteredModel:
    """A registered model; `batching`: {"batch_max_size", "batch_max_latency_ms"} (the model's fields)."""
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.create(name=name, description=description, created_by=user,
                                                   **_batching(batching))
    except IntegrityError:
        raise Conflict(f"Model '{name}' already exists.", details={"model_id": name}) from None
    emit("region.model_registered", {"modelId": name})
    return model


@transaction.atomic
def model_update(*, name: str, description: str | None = None,
                 batching: dict[str, Any] | None = None) -> RegisteredModel:
    """Change a model's description or batching; this process serves with the new batching at once,
    others within REGIONS_ROUTING_CACHE_SECONDS."""
    model = RegisteredModel.objects.select_for_update().filter(name=name).first()
    if model is None:
        raise ModelNotFound(f"Model '{name}' not found.", details={"model_id": name})
    changes = _batching(batching)
    if description is not None:
        changes["description"] = description
    for field_name, value in changes.items():
        setattr(model, field_name, value)
    if changes:
        model.save(update_fields=list(changes))
        transaction.on_commit(forget)
        emit("region.model_updated", {"modelId": name, "batching": {
            "maxBatchSize": model.batch_max_size, "maxLatencyMs": model.batch_max_latency_ms}})
    return model


def _batching(batching: dict[str, Any] | None) -> dict[str, Any]:
    allowed = ("batch_max_size", "batch_max_latency_ms")
    return {k: v for k, v in (batching or {}).items() if k in allowed}


def _check_definition(fmt: str, architecture: list, input_schema: dict) -> None:
    if fmt == ArtifactFormat.TORCH_STATE_DICT:
        try:
            build_sequential(architecture)
        except ValueError as exc:
            raise DomainError(f"architecture: {exc}", code="VALIDATION_ERROR", status=422) from exc
    if fmt == ArtifactFormat.TORCHSCRIPT and not input_schema.get("shape"):
        # TorchScript does not describe its inputs; without a schema a bad input could not be told
        # from a broken model, and the caller would get a 500 instead of a 400.
        raise DomainError("input_schema with a shape is required for torchscript models.",
                          code="VALIDATION_ERROR", status=422)


@transaction.atomic
def version_create(*, model_name: str, version: str, fmt: str, region_name: str,
                   architecture: list | None = None, input_schema: dict | None = None,
                   content: bytes | None = None, artifact_key: str = "",
                   source: dict | None = None) -> ModelVersion:
    """A new version; its artifact comes as `content`, as a key already in the home store, or later."""
    model = model_get(model_name)
    region = region_get(region_name)
    architecture, input_schema = architecture or [], dict(input_schema or {})
    _check_definition(fmt, architecture, input_schema)
    try:
        with transaction.atomic():
            row = ModelVersion.objects.create(model=model, version=version, format=fmt, home_region=region,
                                              architecture=architecture, input_schema=input_schema,
                                              source=source or {})
    except IntegrityError:
        raise Conflict(f"Model '{model_name}' already has version '{version}'.",
                       details={"model_id": model_name, "version": version}) from None
    emit("region.model_version_created", {"modelId": model_name, "version": version, "format": fmt,
                                          "region": region.name})
    if content is not None:
        return version_upload(model_name=model_name, version=version, chunks=[content])
    if artifact_key:
        return _adopt(row, artifact_key)
    return row


def _key(row: ModelVersion) -> str:
    return f"models/{row.model.name}/{row.version}/model.{_EXT[row.format]}"


def _finish(row: ModelVersion, key: str, sha256: str, size: int, head: bytes | None) -> ModelVersion:
    row.artifact_key, row.sha256, row.size_bytes = key, sha256, size
    if not row.input_schema:
        row.input_schema = infer_input_schema(row.format, row.architecture, head)
    row.save(update_fields=["artifact_key", "sha256", "size_bytes", "input_schema"])
    now = timezone.now()
    Replica.objects.update_or_create(version=row, region=row.home_region, defaults={
        "status": ReplicaStatus.COMPLETED, "sha256": sha256, "size_bytes": size, "stored_since": now,
        "updated_at": now})
    transaction.on_commit(forget)
    emit("region.artifact_stored", {"modelId": row.model.name, "version": row.version, "sha256": sha256,
                                    "sizeBytes": size, "region": row.home_region.name})
    return row


def version_upload(*, model_name: str, version: str, chunks: Iterable[bytes]) -> ModelVersion:
    """Stream an artifact into the version's home store (versions are immutable once stored)."""
    row = version_get(model_name, version)
    if row.has_artifact:
        raise Conflict(f"Version '{row}' already has an artifact; register a new version.")
    store = store_for(row.home_region.store_url)
    content = None
    if row.format == ArtifactFormat.ONNX:
        # Read whole (onnx parses from memory, and reads its input schema from it), checked before a
        # byte is written: bytes that are not ONNX are refused with nothing stored.
        content = b"".join(chunks)
        if content:
            check_onnx(content)
        chunks = [content]
    stored = store.write_stream(_key(row), chunks)
    if stored.size_bytes == 0:
        store.delete(stored.key)
        raise DomainError("The artifact is empty.", code="VALIDATION_ERROR", status=422)
    with transaction.atomic():
        return _finish(row, stored.key, stored.sha256, stored.size_bytes, content)


def _adopt(row: ModelVersion, key: str) -> ModelVersion:
    store = store_for(row.home_region.store_url)
    if not store.exists(key):
        raise DomainError(f"No object '{key}' in the store of {row.home_region.name}.",
                          code="VALIDATION_ERROR", status=422)
    head = store.read_bytes(key) if row.format == ArtifactFormat.ONNX else None
    if head is not None:
        check_onnx(head)  # 422, and the version's row goes with the transaction
    return _finish(row, key, store.sha256(key), store.size(key), head)


def _architecture_of(arrays: dict) -> list[dict[str, Any]]:
    """The Sequential of linear layers (ReLU between) that an aggregated state dict describes."""
    weights = [(int(name.split(".")[0]), a) for name, a in arrays.items()
               if name.endswith(".weight") and name.split(".")[0].isdigit()]
    if not weights or [i for i, _ in weights] != list(range(0, 2 * len(weights), 2)):
        raise DomainError("The aggregated model is not a Sequential MLP this registry can rebuild.",
                          code="FL006", status=422)
    layers: list[dict[str, Any]] = []
    for n, (_, w) in enumerate(weights):
        if n:
            layers.append({"type": "relu"})
        layers.append({"type": "linear", "in": int(w.shape[1]), "out": int(w.shape[0])})
    return layers


def version_promote_aggregated(*, model_name: str, version: str, aggregated_model_id: str,
                               region_name: str) -> ModelVersion:
    """A version whose artifact is a federated training's aggregated model, read through
    REGIONS_AGGREGATED_MODEL_SOURCE (fedplane.integration's; regions does not import flcore)."""
    import torch
    from django.conf import settings
    from django.utils.module_loading import import_string

    arrays, source = import_string(settings.REGIONS_AGGREGATED_MODEL_SOURCE)(aggregated_model_id)
    architecture = _architecture_of(arrays)
    buffer = io.BytesIO()
    torch.save({name: torch.from_numpy(a.copy()) for name, a in arrays.items()}, buffer)
    return version_create(
        model_name=model_name, version=version, fmt=ArtifactFormat.TORCH_STATE_DICT, region_name=region_name,
        architecture=architecture, content=buffer.getvalue(), source=source)
