"""MultiRegionClient: the seed's SDK over httpx (sync), API errors raised as exceptions."""
from __future__ import annotations

import time
from typing import Any

import httpx

from .errors import ApiError, error_for
from .types import (AsyncPrediction, DeploymentStatus, FailoverStatus, Health, PredictionResult,
                    ReplicationStatus, from_body)

__all__ = ["MultiRegionClient"]

_TERMINAL = {"completed", "failed", "partial", "rolled_back", "succeeded"}


class MultiRegionClient:
    """Client of one fedplane global endpoint (or a regional one)."""

    def __init__(self, api_key: str, global_endpoint: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=global_endpoint.rstrip("/") + "/api/v1", timeout=timeout,
                                  headers={"X-API-Key": api_key}, transport=transport)

    def __enter__(self) -> MultiRegionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"HTTP_{response.status_code}", response.text[:200], response.status_code) from None
        if response.status_code >= 400 or not body.get("success", False):
            raise error_for(response.status_code, body, response.headers)
        return body["data"]

    # --- serving -------------------------------------------------------------------
    def predict(self, model_id: str, inputs: list, *, batch_size: int | None = None,
                timeout_ms: float | None = None, version: str | None = None) -> PredictionResult:
        parameters = {k: v for k, v in {"batch_size": batch_size, "timeout_ms": timeout_ms,
                                        "version": version}.items() if v is not None}
        data = self._call("POST", f"/models/{model_id}/predict", json={"inputs": inputs, "parameters": parameters})
        return from_body(PredictionResult, data)

    def predict_async(self, model_id: str, inputs: list, **parameters: Any) -> AsyncPrediction:
        data = self._call("POST", f"/models/{model_id}/predict/async", json={"inputs": inputs,
                                                                              "parameters": parameters})
        return from_body(AsyncPrediction, data)

    def prediction_result(self, prediction_id: str, *, wait: float = 0, poll: float = 0.2) -> PredictionResult:
        """The result of an async prediction, polling up to `wait` seconds while it runs."""
        deadline = time.monotonic() + wait
        while True:
            status = from_body(AsyncPrediction, self._call("GET", f"/predictions/{prediction_id}"))
            if status.status in _TERMINAL or time.monotonic() >= deadline:
                break
            time.sleep(poll)
        return from_body(PredictionResult, self._call("GET", f"/predictions/{prediction_id}/result"))

    # --- replication ---------------------------------------------------------------
    def replicate(self, model_id: str, source_region: str, target_regions: list[str], *,
                  verify_checksum: bool = True, version: str | None = None) -> ReplicationStatus:
        body = {"model_id": model_id, "source_region": source_region, "target_regions": target_regions,
                "verify_checksum": verify_checksum, **({"version": version} if version else {})}
        return from_body(ReplicationStatus, self._call("POST", "/replication/models", json=body))

    def replication_status(self, replication_id: str) -> ReplicationStatus:
        return from_body(ReplicationStatus, self._call("GET", f"/replication/{replication_id}/status"))

    def wait_replication(self, replication_id: str, *, timeout: float = 300, poll: float = 0.5) -> ReplicationStatus:
        deadline = time.monotonic() + timeout
        while (status := self.replication_status(replication_id)).status not in _TERMINAL:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"replication {replication_id} still {status.status} after {timeout}s")
            time.sleep(poll)
        return status

    # --- deployments and failover ------------------------------------------------------
    def deploy(self, model_id: str, version: str, regions: list[str], *, strategy: str = "rolling",
               rollback_on_failure: bool = True, validation_period_seconds: float = 300,
               **options: Any) -> DeploymentStatus:
        body = {"model_id": model_id, "version": version, "regions": regions, "strategy": strategy,
                "rollback_on_failure": rollback_on_failure, "validation_period_seconds": validation_period_seconds,
                **options}
        return from_body(DeploymentStatus, self._call("POST", "/deployments", json=body))

    def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        return from_body(DeploymentStatus, self._call("GET", f"/deployments/{deployment_id}"))

    def failover(self, from_region: str, to_region: str, *, reason: str = "",
                 drain_timeout_seconds: float = 300) -> FailoverStatus:
        body = {"from_region": from_region, "to_region": to_region, "reason": reason,
                "drain_timeout_seconds": drain_timeout_seconds}
        return from_body(FailoverStatus, self._call("POST", "/failover", json=body))

    def failover_status(self, failover_id: str) -> FailoverStatus:
        return from_body(FailoverStatus, self._call("GET", f"/failover/{failover_id}"))

    def rollback_failover(self, failover_id: str) -> FailoverStatus:
        return from_body(FailoverStatus, self._call("POST", f"/failover/{failover_id}/rollback"))

    # --- health, metrics, cost -------------------------------------------------------------
    def health(self, *, refresh: bool = False) -> Health:
        return from_body(Health, self._call("GET", "/health", params={"refresh": "1"} if refresh else None))

    def metrics(self, metric_name: str, *, regions: list[str] | None = None, time_range: float = 1) -> dict:
        params = {"metric_name": metric_name, "time_range": time_range,
                  **({"regions": ",".join(regions)} if regions else {})}
        return self._call("GET", "/metrics", params=params)

    def cost_summary(self, *, days: int = 30, regions: list[str] | None = None) -> dict:
        return self._call("GET", "/cost/summary", params={"days": days, **({"regions": ",".join(regions)}
                                                                             if regions else {})})

    def cost_recommendations(self, *, days: int = 30) -> dict:
        return self._call("GET", "/cost/recommendations", params={"days": days})
