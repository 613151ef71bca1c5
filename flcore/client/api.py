"""The few fedplane API calls a client makes."""
from __future__ import annotations

import httpx

__all__ = ["FedplaneApi", "ApiError"]


class ApiError(RuntimeError):
    def __init__(self, status: int, body: dict) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', body)}")
        self.status, self.code = status, error.get("code")


class FedplaneApi:
    def __init__(self, base_url: str, api_key: str, timeout: float = 15.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1", headers={"X-API-Key": api_key},
                                 timeout=timeout, transport=httpx.HTTPTransport(retries=3))

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body.get("data", body)

    def register(self, **client) -> dict:
        return self._call("POST", "/fl/clients", json=client)

    def assign(self, client_id: str, execution_id: str, role: str = "trainer") -> dict:
        return self._call("POST", f"/fl/clients/{client_id}/assign", json={"executionId": execution_id, "role": role})

    def set_status(self, client_id: str, status: str, metadata: dict | None = None) -> dict:
        return self._call("PUT", f"/fl/clients/{client_id}/status", json={"status": status, "metadata": metadata or {}})

    def execution(self, execution_id: str) -> dict:
        return self._call("GET", f"/fl/executions/{execution_id}")
