"""The multi-region seed's error codes as domain exceptions (mapped once by fedplane.api.errors)."""
from fedplane.api.errors import DomainError

__all__ = ["RegionNotFound", "ModelNotFound", "VersionNotFound", "ArtifactMissing", "InvalidInput",
           "PredictionTimeout", "PredictionFailed", "NoHealthyRegion", "RegionUnavailable",
           "ReplicationNotFound", "ChecksumMismatch", "DeploymentNotFound", "DeploymentConflict",
           "FailoverNotFound", "InvalidTransition", "AsyncPredictionNotFound", "InvalidBillingFile",
           "AggregatedModelNotFound", "StoreNotAllowed", "RuntimeUnavailable"]


class RegionNotFound(DomainError):
    code, status, default_message = "REGION_NOT_FOUND", 404, "Region not found."


class ModelNotFound(DomainError):
    code, status, default_message = "MODEL_NOT_FOUND", 404, "Model not found."


class VersionNotFound(DomainError):
    code, status, default_message = "MODEL_VERSION_NOT_FOUND", 404, "Model version not found."


class ArtifactMissing(DomainError):
    code, status, default_message = "ARTIFACT_NOT_AVAILABLE", 409, "The artifact is not available in this region."


class InvalidInput(DomainError):
    """Inputs whose shape or dtype the model cannot take: the caller's mistake, never a 500."""

    code, status, default_message = "INVALID_INPUT", 400, "The inputs do not fit the model."


class PredictionTimeout(DomainError):
    code, status, default_message = "PREDICTION_TIMEOUT", 504, "The prediction did not finish within timeout_ms."


class PredictionFailed(DomainError):
    code, status, default_message = "PREDICTION_FAILED", 500, "The model failed while predicting."


class NoHealthyRegion(DomainError):
    code, status, default_message = "NO_HEALTHY_REGION", 503, "No healthy region serves this model."


class RegionUnavailable(DomainError):
    code, status, default_message = "REGION_UNAVAILABLE", 503, "The region is unavailable."


class ReplicationNotFound(DomainError):
    code, status, default_message = "REPLICATION_NOT_FOUND", 404, "Replication not found."


class ChecksumMismatch(DomainError):
    code, status, default_message = "CHECKSUM_MISMATCH", 422, "The artifact's sha256 does not match."


class DeploymentNotFound(DomainError):
    code, status, default_message = "DEPLOYMENT_NOT_FOUND", 404, "Deployment not found."


class DeploymentConflict(DomainError):
    code, status, default_message = "DEPLOYMENT_CONFLICT", 409, "Another deployment of this model is running."


class FailoverNotFound(DomainError):
    code, status, default_message = "FAILOVER_NOT_FOUND", 404, "Failover not found."


class InvalidTransition(DomainError):
    code, status, default_message = "INVALID_STATE_TRANSITION", 409, "Not allowed in the current state."


class AsyncPredictionNotFound(DomainError):
    code, status, default_message = "PREDICTION_NOT_FOUND", 404, "Async prediction not found."


class InvalidBillingFile(DomainError):
    code, status, default_message = "INVALID_BILLING_FILE", 400, "The billing file is not FOCUS CSV."


class AggregatedModelNotFound(DomainError):
    code, status, default_message = "AGGREGATED_MODEL_NOT_FOUND", 404, "Aggregated model not found."


class StoreNotAllowed(DomainError):
    """A store, or a key in it, outside REGIONS_STORE_ALLOWED_ROOTS (a region registered before the
    roots were set, or a symlink leading out): nothing is read or written there."""

    code, status, default_message = "STORE_NOT_ALLOWED", 409, "The region's store is outside the allowed roots."


class RuntimeUnavailable(DomainError):
    """The artifact is valid but this process lacks the runtime its format needs (ONNX Runtime)."""

    code, status, default_message = "RUNTIME_UNAVAILABLE", 503, "This process cannot run the model's format."
