"""Platform conventions on the regions API: rate-limit buckets, events of the regions system."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_predictions_are_rate_limited_in_their_own_bucket(caller, registered, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "predict": 2}
    codes = [caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]}) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[0]["X-RateLimit-Limit"] == "2" and codes[2].json()["error"]["code"] == "RATE_LIMITED"
    assert caller.get("/api/v1/health").status_code == 200  # other endpoints are not in that bucket


def test_state_changes_are_events_of_the_regions_system(caller, registered, eager):
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    events = caller.get("/api/v1/integration/events?limit=100").json()["data"]
    kinds = {e.get("type") or e.get("event") for e in events if e.get("system") == "regions"}
    assert {"region.created", "region.model_registered", "replication.started", "replication.target_completed",
            "replication.completed"} <= kinds, kinds

