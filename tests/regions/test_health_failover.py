"""Health from real probes, planned failover with rollback, automatic failover (in-process)."""
from __future__ import annotations

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def test_health_aggregates_probes(caller, three_regions):
    from regions.services.regions import region_update

    region_update(name="ap-southeast-1", endpoint=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    body = caller.get("/api/v1/health?refresh=1").json()["data"]
    assert body["status"] == "degraded"
    assert body["regions"]["us-east-1"]["status"] == "healthy" and body["regions"]["us-east-1"]["error_rate"] == 0
    assert body["regions"]["ap-southeast-1"]["status"] == "down"
    assert body["regions"]["ap-southeast-1"]["error_rate"] == 1.0


def test_repeated_probe_failures_fail_the_region_over(caller, registered, eager, settings):
    from regions.models import Failover
    from regions.services.regions import region_update

    settings.REGIONS_FAILOVER_AFTER = 2
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    region_update(name="us-east-1", endpoint=f"http://127.0.0.1:{free_port()}")
    caller.get("/api/v1/health?refresh=1")
    assert not Failover.objects.exists()
    caller.get("/api/v1/health?refresh=1")
    failover = Failover.objects.get()
    assert (failover.from_region.name, failover.to_region.name, failover.automatic, failover.status) == \
        ("us-east-1", "eu-west-1", True, "completed")
    answer = caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]}).json()["data"]
    assert answer["region"] == "eu-west-1"


def test_a_second_process_seeing_the_same_failures_does_not_fail_its_request(registered, settings):
    """Two predicts that both found the region unreachable: one fails it over, the other just goes on."""
    from regions.models import Failover, Region
    from regions.services import health

    settings.REGIONS_FAILOVER_AFTER = 1
    seen_by_other_process = Region.objects.get(name="us-east-1")  # read before the failover below committed
    health.note_failure(Region.objects.get(name="us-east-1"), "connection refused")
    assert Failover.objects.filter(automatic=True).count() == 1
    seen_by_other_process.consecutive_failures = 1
    health._maybe_fail_over(seen_by_other_process)  # raised InvalidTransition: a 409 on a predict
    assert Failover.objects.count() == 1


def test_planned_failover_routes_to_the_target_and_rolls_back(caller, registered, eager):
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1", "ap-southeast-1"]})

    def region_answering() -> str:
        return caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]}).json()["data"]["region"]
    assert region_answering() == "us-east-1"
    with eager(execute=True):
        response = caller.post("/api/v1/failover", {"from_region": "us-east-1", "to_region": "ap-southeast-1",
                                                    "reason": "planned_maintenance", "drain_timeout_seconds": 5})
    assert response.status_code == 202, response.content
    failover_id = response.json()["data"]["failover_id"]
    status = caller.get(f"/api/v1/failover/{failover_id}").json()["data"]
    assert status["status"] == "completed" and status["drained"] is True
    assert region_answering() == "ap-southeast-1"  # the target takes the source's place, not eu-west-1
    again = caller.post("/api/v1/failover", {"from_region": "us-east-1", "to_region": "eu-west-1"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_STATE_TRANSITION"
    rolled = caller.post(f"/api/v1/failover/{failover_id}/rollback")
    assert rolled.status_code == 200 and rolled.json()["data"]["status"] == "rolled_back"
    assert region_answering() == "us-east-1"


def test_metrics_by_region_and_global_average(caller, registered):
    from regions.models import RequestMetric

    for region, latencies in {"us-east-1": [10, 20, 30, 40], "eu-west-1": [50, 60]}.items():
        for i, latency in enumerate(latencies):
            RequestMetric.objects.create(region=region, model_name="churn", latency_ms=latency, ok=i != 0,
                                         status_code=200 if i else 500)
    p95 = caller.get("/api/v1/metrics?metric_name=request_latency_p95&regions=us-east-1,eu-west-1").json()["data"]
    assert p95["by_region"] == {"us-east-1": 40.0, "eu-west-1": 60.0} and p95["global_average"] == 50.0
    errors = caller.get("/api/v1/metrics?metric_name=error_rate&regions=us-east-1,eu-west-1").json()["data"]
    assert errors["by_region"] == {"us-east-1": 0.25, "eu-west-1": 0.5}
    assert caller.get("/api/v1/metrics").status_code == 422
    assert caller.get("/api/v1/metrics?metric_name=nope").status_code == 422
    scrape = caller.get("/metrics").content.decode()
    assert 'fedplane_region_request_latency_p95_ms{region="us-east-1"} 40.0' in scrape
    assert 'fedplane_region_error_rate{region="eu-west-1"} 0.5' in scrape


def test_routing_reads_are_cached_for_the_configured_time(caller, registered, settings):
    from regions.models import Region
    from regions.services import routing
    from regions.services.registry import model_get

    settings.REGIONS_ROUTING_CACHE_SECONDS = 60
    model = model_get("churn")
    assert routing.routes_for(model)[0].region.name == "us-east-1"
    Region.objects.filter(name="us-east-1").update(routing_status="failed_over")  # behind the cache's back
    assert routing.routes_for(model)[0].region.name == "us-east-1"
    routing.forget()
    with pytest.raises(Exception, match="No healthy region"):
        routing.routes_for(model)


def test_scheduled_probes_find_a_dead_region_and_fail_it_over_without_a_health_read(
        caller, registered, eager, settings):
    """What the workers' background prober runs each period (regions/prober.py)."""
    from regions.models import Failover, Region
    from regions.prober import probe_if_due
    from regions.services.regions import region_update

    settings.REGIONS_FAILOVER_AFTER, settings.REGIONS_PROBE_INTERVAL = 2, 3600
    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    region_update(name="us-east-1", endpoint=f"http://127.0.0.1:{free_port()}")
    assert probe_if_due() is True
    assert probe_if_due() is False  # the last probes are younger than the interval: nothing to do
    assert Region.objects.get(name="us-east-1").health_status == "down" and not Failover.objects.exists()
    Region.objects.update(last_probe_at=None)
    assert probe_if_due() is True
    failover = Failover.objects.get()
    assert (failover.from_region.name, failover.automatic) == ("us-east-1", True)
