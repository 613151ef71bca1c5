"""What the regions app reads from federated learning, provided by the layer that knows both.

regions names these functions in settings (REGIONS_AGGREGATED_MODEL_SOURCE,
REGIONS_TRAINING_USAGE_SOURCE) instead of importing flcore, so the apps stay independent.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Sum

from flcore.artifacts import ArtifactCorrupted, load_arrays
from flcore.models import AggregatedModel, ClientUpdate
from regions.errors import AggregatedModelNotFound, ArtifactMissing, ChecksumMismatch

__all__ = ["aggregated_model_arrays", "training_seconds_by_region"]


def aggregated_model_arrays(aggregated_model_id: str) -> tuple[dict[str, np.ndarray], dict]:
    """The aggregated model's tensors (sha256-verified) and where they came from."""
    try:
        aggregated = AggregatedModel.objects.get(pk=aggregated_model_id)
    except (AggregatedModel.DoesNotExist, ValueError, ValidationError):  # ValidationError: not a UUID
        raise AggregatedModelNotFound(details={"aggregated_model_id": aggregated_model_id}) from None
    from flcore.services.encryption import refuse_if_encrypted
    refuse_if_encrypted(aggregated.execution, "Promoting the aggregated model to the registry")
    try:
        arrays = load_arrays(settings.FEDPLANE_ARTIFACT_ROOT, aggregated.artifact_path, aggregated.sha256)
    except ArtifactCorrupted as exc:
        raise ChecksumMismatch(str(exc), details={"aggregated_model_id": aggregated_model_id}) from exc
    except FileNotFoundError as exc:
        raise ArtifactMissing("The aggregated model's file is gone.",
                              details={"aggregated_model_id": aggregated_model_id}) from exc
    return arrays, {"aggregatedModelId": str(aggregated.pk), "executionId": str(aggregated.execution_id),
                    "round": aggregated.round_number, "sha256": aggregated.sha256}


def training_seconds_by_region(names: list[str], start: datetime, end: datetime) -> dict[str, Decimal]:
    """Seconds of federated-training client updates in [start, end], by the client's region."""
    rows = ClientUpdate.objects.filter(client__region__in=names, received_at__gte=start, received_at__lte=end) \
        .values("client__region").annotate(seconds=Sum("duration_seconds"))
    return {row["client__region"]: Decimal(str(row["seconds"] or 0)) for row in rows}
