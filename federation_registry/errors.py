"""The seed's Module Federation error codes (MF001-MF008) as domain exceptions."""
from fedplane.api.errors import DomainError

__all__ = ["ApplicationNotFound", "ModuleLoadFailed", "DependencyConflict", "InvalidConfiguration",
           "DeploymentFailed", "VersionMismatch", "NetworkTimeout", "CircularDependency",
           "ModuleNotFound", "DependencyNotFound", "DeploymentNotFound", "InvalidTransition"]


class ApplicationNotFound(DomainError):
    code, status, default_message = "MF001", 404, "Application not found."


class ModuleLoadFailed(DomainError):
    code, status, default_message = "MF002", 502, "Module loading failed."


class DependencyConflict(DomainError):
    code, status, default_message = "MF003", 409, "Dependency conflict."


class InvalidConfiguration(DomainError):
    # 422: the request was well-formed JSON but its content (a manifest, a config) is unusable.
    code, status, default_message = "MF004", 422, "Invalid configuration."


class DeploymentFailed(DomainError):
    code, status, default_message = "MF005", 409, "Deployment failed."


class VersionMismatch(DomainError):
    code, status, default_message = "MF006", 409, "Version mismatch."


class NetworkTimeout(DomainError):
    code, status, default_message = "MF007", 504, "Network timeout."


class CircularDependency(DomainError):
    code, status, default_message = "MF008", 409, "Circular dependency."


class ModuleNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Module not found."


class DependencyNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Shared dependency not found."


class DeploymentNotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, "Deployment not found."


class InvalidTransition(DomainError):
    code, status, default_message = "CONFLICT", 409, "The deployment cannot do that in its current state."
