"""Python SDK of fedplane's multi-region API (needs only httpx; no Django).

    from regions.sdk import MultiRegionClient
    client = MultiRegionClient(api_key="...", global_endpoint="https://ml-platform.example.com")
    print(client.predict(model_id="churn", inputs=[[1.0, 2.0, 3.0, 4.0]]).predictions)
"""
from .client import MultiRegionClient
from .errors import ApiError, NotFoundError, RateLimitedError, UnavailableError
from .types import (AsyncPrediction, DeploymentStatus, FailoverStatus, Health, PredictionResult, RegionHealth,
                    ReplicationResult, ReplicationStatus)

__all__ = ["MultiRegionClient", "ApiError", "NotFoundError", "RateLimitedError", "UnavailableError",
           "PredictionResult", "AsyncPrediction", "ReplicationStatus", "ReplicationResult", "DeploymentStatus",
           "FailoverStatus", "Health", "RegionHealth"]
