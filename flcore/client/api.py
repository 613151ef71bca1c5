"""The few fedplane API calls a client makes."""
from __future__ import annotations

import ssl
import time

import httpx

__all__ = ["FedplaneApi", "ApiError"]


class ApiError(RuntimeError):
    def __init__(self, status: int, body: dict) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', body)}")
        self.status, self.code = status, error.get("code")


class FedplaneApi:
    """With an API key, or (api_key None) with the client certificate in `verify`'s TLS context."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 15.0,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1",
                                 headers={"X-API-Key": api_key} if api_key else {}, timeout=timeout,
                                 transport=httpx.HTTPTransport(retries=3, verify=verify))

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

    def certificate(self, client_id: str, csr: str) -> dict:
        return self._call("POST", f"/fl/clients/{client_id}/certificate", json={"csr": csr})

    def close(self) -> None:
        self.http.close()

    def execution(self, execution_id: str) -> dict:
        return self._call("GET", f"/fl/executions/{execution_id}")
