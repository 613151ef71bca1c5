"""The seed's federated-learning error codes as domain exceptions."""
from fedplane.api.errors import DomainError

__all__ = ["ExecutionNotFound", "InsufficientClients", "TrainingFailed", "AggregationError",
           "ClientDisconnected", "ModelIncompatible", "PrivacyViolation", "ConvergenceFailed",
           "ClientNotFound", "ClientInExecution", "PurgeNotRequested",
           "InvalidTransition", "TrainingInProgress", "RoundNotFound", "DatasetNotFound"]


class ExecutionNotFound(DomainError):
    code, status, default_message = "FL001", 404, "Execution not found."


class InsufficientClients(DomainError):
    code, status, default_message = "FL002", 422, "Not enough clients for this execution."


class TrainingFailed(DomainError):
    code, status, default_message = "FL003", 500, "Training failed."


class AggregationError(DomainError):
    code, status, default_message = "FL004", 422, "Aggregation could not be performed."


class ClientDisconnected(DomainError):
    code, status, default_message = "FL005", 409, "A client disconnected."


class ModelIncompatible(DomainError):
    code, status, default_message = "FL006", 422, "Model is incompatible."


class PrivacyViolation(DomainError):
    code, status, default_message = "FL007", 422, "The privacy budget would be exceeded."


class ConvergenceFailed(DomainError):
    code, status, default_message = "FL008", 422, "Training did not converge."


class ClientNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Client not found."


class ClientInExecution(DomainError):
    """A purge of a client still assigned to a queued, running or stopping execution: it must leave
    (unassign) first, so that no round in flight loses the records of a participant."""
    code, status, default_message = "CLIENT_IN_EXECUTION", 409, "The client is in an execution in progress."


class PurgeNotRequested(DomainError):
    """A client's DELETE without purge=true: there is no plain delete (revoke keeps the history)."""
    code, status = "BAD_REQUEST", 400
    default_message = ("DELETE erases the client's personal records: send purge=true. To cut a client off and "
                       "keep its history, POST /fl/clients/{id}/revoke.")


class DatasetNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Dataset not found."


class RoundNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Round not found."


class InvalidTransition(DomainError):
    code, status, default_message = "CONFLICT", 409, "The execution cannot do that in its current state."


class TrainingInProgress(InvalidTransition):
    """Its training is under way (queued, running or stopping), so it cannot start again. FL003 at 409,
    as MF005 answers a deployment already in progress: not FL005, which a client would retry."""
    code, status, default_message = "FL003", 409, "The execution's training is already in progress."
