"""What a client authenticated by its certificate may reach: its own record, the executions it is
assigned to. Views name these as `client_owns` (HasRequiredScopes calls it with the URL's kwargs)."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError

from fedplane.api.principals import ClientPrincipal

from ..models import ClientAssignment

__all__ = ["owns_client_record", "assigned_to_execution"]


def owns_client_record(principal: ClientPrincipal, kwargs: dict) -> bool:
    """The URL's client (`pk`) is the certificate's own."""
    return str(kwargs.get("pk", "")).lower() == principal.client_id


def assigned_to_execution(principal: ClientPrincipal, kwargs: dict) -> bool:
    """The URL's execution (`pk`) is one the certificate's client is assigned to."""
    try:
        return ClientAssignment.objects.filter(client_id=principal.client_id, execution_id=kwargs.get("pk")).exists()
    except (ValueError, TypeError, DjangoValidationError):  # not an execution id at all
        return False
