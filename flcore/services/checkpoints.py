"""Checkpoints: each round's aggregated model (and FedOpt optimiser state) as artifacts."""
from __future__ import annotations

from django.conf import settings

from ..artifacts import StoredArtifact, load_arrays, load_state, round_path, save_arrays, save_state
from ..errors import ModelIncompatible
from ..models import AggregatedModel, TrainingExecution
from ..runtime.records import RoundRecord

__all__ = ["save", "load", "last_round"]


def save(execution: TrainingExecution, record: RoundRecord, strategy) -> tuple[StoredArtifact, str]:
    """Store the round's model, and the strategy's state when it has one; returns (model, state path)."""
    from ..strategies.state import strategy_state

    root = settings.FEDPLANE_ARTIFACT_ROOT
    artifact = save_arrays(root, round_path(execution.id, record.round_number), record.arrays)
    state = strategy_state(strategy)
    state_path = save_state(root, artifact.path, state).path if state else ""
    return artifact, state_path


def load(execution: TrainingExecution, round_number: int) -> tuple[dict, dict]:
    """(arrays, strategy state) of round `round_number`, digest-verified."""
    model = AggregatedModel.objects.filter(execution=execution, round_number=round_number).first()
    if model is None:
        raise ModelIncompatible(f"No checkpoint for round {round_number}.")
    root = settings.FEDPLANE_ARTIFACT_ROOT
    arrays = load_arrays(root, model.artifact_path, expected_sha256=model.sha256)
    state = load_state(root, model.artifact_path) if model.strategy_state_path else {}
    return arrays, state


def last_round(execution: TrainingExecution) -> int:
    """The latest round whose model was accepted and stored (0: start from scratch)."""
    model = (AggregatedModel.objects.filter(execution=execution, round__accepted=True)
             .order_by("-round_number").first())
    return model.round_number if model else 0
