"""Forwarding a request to another region's fedplane process over HTTP."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx
from django.conf import settings

from fedplane.api.errors import DomainError

from ..errors import RegionUnavailable
from .regions import endpoint_error

__all__ = ["forward_predict", "ROUTED_HEADER", "client"]

# Marks a request the global router already placed: the region answers it itself.
ROUTED_HEADER = "X-Fedplane-Routed"
_NEXT_REGION_CODES = {"CHECKSUM_MISMATCH", "ARTIFACT_NOT_AVAILABLE", "NO_HEALTHY_REGION", "REGION_UNAVAILABLE"}


@lru_cache(maxsize=1)
def client() -> httpx.Client:
    # One pooled client per process: keep-alive connections to each region.
    return httpx.Client(timeout=settings.REGIONS_FORWARD_TIMEOUT,
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))


def forward_predict(*, endpoint: str, region: str, model_name: str, body: dict[str, Any],
                    credentials: dict[str, str]) -> dict[str, Any]:
    """The region's answer (the seed's predict body); RegionUnavailable when it cannot be reached."""
    url = f"{endpoint}/api/v1/models/{model_name}/predict"
    refused = endpoint_error(url)
    if refused:  # a region stored before the rules (or the allow-list narrowed since): never send credentials there
        raise RegionUnavailable(f"Region {region} is not forwarded to: {refused}.",
                                details={"region": region, "reason": refused})
    try:
        response = client().post(url, json=body, headers={**credentials, ROUTED_HEADER: region})
    except httpx.TransportError as exc:
        raise RegionUnavailable(f"Region {region} did not answer: {exc.__class__.__name__}.",
                                details={"region": region}) from exc
    try:
        payload = response.json()
    except ValueError:
        raise RegionUnavailable(f"Region {region} answered {response.status_code} without JSON.",
                                details={"region": region}) from None
    if response.status_code >= 400 or not payload.get("success"):
        error = payload.get("error") or {}
        # The region cannot serve this (down, or its replica was lost): the router tries the next one.
        if (response.status_code in (502, 503, 504) and error.get("code") != "PREDICTION_TIMEOUT") \
                or error.get("code") in _NEXT_REGION_CODES:
            raise RegionUnavailable(f"Region {region}: {error.get('message', response.status_code)}",
                                    details={"region": region, "reachable": True})
        raise DomainError(error.get("message", "The region refused the request."),
                          code=error.get("code", "BAD_REQUEST"), status=response.status_code,
                          details=error.get("details") or {})
    return payload["data"]
