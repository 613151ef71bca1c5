"""OpenAPI descriptions of fedplane's credentials, so the schema documents them and
the docs page can authorize with them (drf-spectacular cannot guess custom classes)."""
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension

__all__ = ["ApiKeyScheme", "ScopedJWTScheme"]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "fedplane.api.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class ScopedJWTScheme(SimpleJWTScheme):
    target_class = "fedplane.api.authentication.ScopedJWTAuthentication"
