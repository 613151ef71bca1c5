"""Which seed code a refused execution config answers with: one table from field path to code.

POST /fl/executions, resume's `adjustConfig` and the admin's start forms read this table. A path
names a field as the error's `details` do, dotted (`config.inputDim`, `privacyConfig.epsilon`,
`clients.0`); an entry covers its path and every path under it. A field the table does not name
stays VALIDATION_ERROR. The status is 422 whatever the code, and `details` keep their shape.

When several fields fail, the code is the first failing field's: the one `error.message` names.
"""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fedplane.api.errors import CodedValidationError, ErrorCode

from ..errors import InsufficientClients, ModelIncompatible, PrivacyViolation

__all__ = ["FIELD_CODES", "code_for", "field_errors", "validated"]

FIELD_CODES: dict[str, str] = {
    # FL002, insufficient clients: who trains, and how many are needed
    "clients": InsufficientClients.code,  # not client ids, or clients named for a simulation
    "config.minClients": InsufficientClients.code,  # out of range, or above numSupernodes
    "adjustConfig.minClients": InsufficientClients.code,
    # FL006, model incompatible: the model's kind and shape, and the app that builds it
    "modelType": ModelIncompatible.code,
    "config.inputDim": ModelIncompatible.code,
    "config.numClasses": ModelIncompatible.code,
    "config.hiddenDim": ModelIncompatible.code,
    "config.clientApp": ModelIncompatible.code,  # not a "module:attribute" a SuperNode could load
    # FL007, privacy violation: every privacyConfig field (epsilon/delta missing or out of range, ...)
    "privacyConfig": PrivacyViolation.code,
}


def code_for(path: str) -> str:
    """The code of one failing field, by its dotted path."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        code = FIELD_CODES.get(".".join(parts[:end]))
        if code:
            return code
    return ErrorCode.VALIDATION_ERROR


def field_errors(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, message) of every failing field of a DRF error detail, in its order."""
    if isinstance(detail, dict):
        return [pair for key, value in detail.items()
                for pair in field_errors(value, prefix if key == "non_field_errors" else f"{prefix}{key}.")]
    if isinstance(detail, list):
        return [pair for value in detail for pair in field_errors(value, prefix)]
    return [(prefix.rstrip("."), str(detail))]


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    """The serializer's validated data; else its errors, raised with the first failing field's code."""
    if serializer.is_valid():
        return serializer.validated_data
    errors = field_errors(serializer.errors)
    code = code_for(errors[0][0]) if errors else ErrorCode.VALIDATION_ERROR
    if code == ErrorCode.VALIDATION_ERROR:
        raise serializers.ValidationError(serializer.errors)
    raise CodedValidationError(serializer.errors, error_code=code)
