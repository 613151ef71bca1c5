"""Replication in the Prometheus scrape: copies by region and status, what is under way, throughput."""
from __future__ import annotations

import pytest

from tests.support.scrape import label_values, total

pytestmark = pytest.mark.django_db


def test_replication_shows_by_target_region(caller, registered, eager):
    with eager(execute=True):
        response = caller.post("/api/v1/replication/models", {
            "model_id": "churn", "source_region": "us-east-1", "target_regions": ["eu-west-1", "ap-southeast-1"]})
    assert response.status_code == 202, response.content
    text = caller.get("/metrics").content.decode()
    for region in ("eu-west-1", "ap-southeast-1"):
        assert total(text, "fedplane_region_replicas", region=region, status="completed") == 1
        assert total(text, "fedplane_region_replicas", region=region, status="in_progress") == 0
        assert total(text, "fedplane_region_replications_active", region=region) == 0
        assert total(text, "fedplane_region_replication_throughput_bytes", region=region) == pytest.approx(
            registered.size_bytes / 300)
    assert total(text, "fedplane_region_replication_throughput_bytes", region="us-east-1") == 0
    assert total(text, "fedplane_region_replication_jobs", status="completed") == 1
    assert label_values(text, "fedplane_region_replicas", "region") == {"us-east-1", "eu-west-1", "ap-southeast-1"}


def test_a_copy_under_way_counts_as_active_with_its_age(caller, registered):
    from regions.models import ReplicationTarget

    response = caller.post("/api/v1/replication/models", {  # no worker runs it: it stays queued
        "model_id": "churn", "source_region": "us-east-1", "target_regions": ["eu-west-1"]})
    assert response.status_code == 202, response.content
    assert ReplicationTarget.objects.filter(region__name="eu-west-1", status="pending").count() == 1
    text = caller.get("/metrics").content.decode()
    assert total(text, "fedplane_region_replications_active", region="eu-west-1") == 1
    assert 0 <= total(text, "fedplane_region_replication_oldest_seconds", region="eu-west-1") < 60
    assert total(text, "fedplane_region_replication_jobs", status="in_progress") == 1
