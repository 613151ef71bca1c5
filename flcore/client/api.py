"""The few fedplane API calls a client makes."""
from __future__ import annotations

import time

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

    # The server may close an idle keep-alive connection just as the client reuses it
    # ("Server disconnected without sending a response"). Idempotent calls are sent again on
    # a fresh connection; a POST is not (it might have been applied).
    RETRIED_METHODS = frozenset({"GET", "PUT", "DELETE"})
    ATTEMPTS = 4

    def _call(self, method: str, path: str, **kwargs) -> dict:
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if method not in self.RETRIED_METHODS or attempt == self.ATTEMPTS:
                    raise
                time.sleep(0.2 * 2 ** (attempt - 1))  # backoff between network attempts
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
