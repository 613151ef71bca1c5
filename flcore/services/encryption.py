"""Homomorphic encryption of an execution: its CKKS keys, who may read them, what it refuses.

The platform makes the keys when the execution is created. The secret context is written under
``FLCORE_HE_KEY_DIR`` (mode 0600), which only this module reads, to hand it to the execution's
assigned clients (``GET /fl/executions/{id}/he-context``). The public context goes beside the
artifacts, where the worker's round loop reads it: the aggregating process never loads the
secret key. The control plane that made the key also holds it: that is the trust boundary
(docs/flower.md, "Homomorphic encryption").
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from fedplane.api.errors import DomainError

from ..files import write_whole
from ..models import ClientAssignment, TrainingExecution
from .executions import execution_get

__all__ = ["ModelEncrypted", "he_enabled", "he_keys_create", "he_secret_context", "encryption_of",
           "refuse_if_encrypted"]


class ModelEncrypted(DomainError):
    code, status, default_message = "MODEL_ENCRYPTED", 409, "The model is encrypted."


def he_config(privacy_config: dict | None) -> dict:
    return (privacy_config or {}).get("homomorphicEncryption") or {}


def he_enabled(execution: TrainingExecution) -> bool:
    return bool(he_config(execution.privacy_config).get("enabled"))


def _secret_path(execution_id) -> Path:
    return Path(settings.FLCORE_HE_KEY_DIR) / f"{execution_id}.tenseal"


def _public_path(execution_id) -> Path:
    return Path(settings.FEDPLANE_ARTIFACT_ROOT) / "he" / f"{execution_id}.public.tenseal"


def he_keys_create(execution: TrainingExecution) -> None:
    """Make the execution's CKKS keys (once: a resume keeps them, or its checkpoints would be unreadable)."""
    from ..he import HEParams, create_context

    if _secret_path(execution.pk).exists():
        return
    secret, public = create_context(HEParams.from_dict(he_config(execution.privacy_config)))
    write_whole(_public_path(execution.pk), public, 0o644)
    write_whole(_secret_path(execution.pk), secret, 0o600)


def he_secret_context(*, execution_id, user) -> bytes:
    """The secret context, for a user whose client is assigned to the execution (NOT_FOUND otherwise:
    nobody else learns that the execution is encrypted)."""
    execution = execution_get(execution_id)
    assigned = ClientAssignment.objects.filter(execution=execution, client__owner=user).exists()
    if not he_enabled(execution) or not assigned:
        raise DomainError("No encryption context for you on this execution: it is not encrypted, or none of "
                          "your clients is assigned to it.", code="NOT_FOUND", status=404,
                          details={"executionId": str(execution.pk)})
    try:
        return _secret_path(execution.pk).read_bytes()
    except FileNotFoundError as exc:
        raise DomainError("The execution's encryption context is gone from FLCORE_HE_KEY_DIR.",
                          code="NOT_FOUND", status=404, details={"executionId": str(execution.pk)}) from exc


def encryption_of(execution: TrainingExecution, run_config: dict):
    """What the round loop gets (``runtime.encrypted.Encryption``: the public context only), or None."""
    if not he_enabled(execution):
        return None
    from ..he import HEParams, Layout
    from ..runtime.encrypted import Encryption
    from ..runtime.model import initial_arrays

    params = HEParams.from_dict(he_config(execution.privacy_config))
    model = {key: array.numpy() for key, array in initial_arrays(run_config).items()}
    return Encryption(public_context=_public_path(execution.pk).read_bytes(),
                      layout=Layout.of(model, params.slots), context_id=str(execution.pk),
                      coefficient_primes=len(params.coeff_mod_bit_sizes),
                      poly_modulus_degree=params.poly_modulus_degree)


def refuse_if_encrypted(execution: TrainingExecution, what: str) -> None:
    """Exports and promotion need the plaintext model, which no server-side process has."""
    if he_enabled(execution):
        raise ModelEncrypted(
            f"{what} is not available: execution {execution.pk} aggregates under homomorphic encryption, so the "
            "server holds only ciphertexts. Its clients hold the key: they can decrypt a round's checkpoint "
            "(GET /fl/executions/{id}/rounds/{n}/checkpoint).", details={"executionId": str(execution.pk)})
