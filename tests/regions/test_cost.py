"""Cost = metered usage x the region's price card, to the cent; recommendations; FOCUS import."""
from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from .conftest import price_card

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


def money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def test_summary_is_usage_times_price_card(caller, three_regions, eager):
    from regions.models import Region, Replica, RequestMetric, UsageRecord
    from regions.services.registry import model_create, version_create

    from .conftest import mlp_module, torchscript_bytes

    # Inference compute, metered per request.
    for seconds in (1.25, 2.5, 0.125):
        RequestMetric.objects.create(region="us-east-1", model_name="m", latency_ms=1, compute_seconds=seconds)
    RequestMetric.objects.create(region="eu-west-1", model_name="m", latency_ms=1, compute_seconds=100.0)
    RequestMetric.objects.create(region="eu-west-1", model_name="m", latency_ms=1, compute_seconds=7,
                                 at=timezone.now() - timedelta(days=40))  # outside the window
    # Replication egress of 3.5 GB from ap-southeast-1.
    UsageRecord.objects.create(region=Region.objects.get(name="ap-southeast-1"), resource_type="network",
                               quantity=Decimal("3.5"), unit="GB")
    # Storage: a 2 GB replica stored for exactly 15 days.
    model_create(name="big")
    version = version_create(model_name="big", version="1", fmt="torchscript", region_name="eu-west-1",
                             input_schema={"shape": [-1, 4]}, content=torchscript_bytes(mlp_module()))
    now = timezone.now()
    Replica.objects.filter(version=version).update(size_bytes=2 * 10**9, stored_since=now - timedelta(days=15))

    from regions.services.cost import cost_summary

    summary = cost_summary(days=30, now=now)
    us, eu, ap = (price_card(n) for n in ("us-east-1", "eu-west-1", "ap-southeast-1"))
    expected = {
        "us-east-1": Decimal("3.875") * us["compute_second"],
        "eu-west-1": Decimal("100") * eu["compute_second"] + Decimal(2) * Decimal("0.5") * eu["storage_gb_month"],
        "ap-southeast-1": Decimal("3.5") * ap["network_gb"],
    }
    assert {k: float(v) for k, v in summary["by_region"].items()} == {k: money(v) for k, v in expected.items()}
    assert float(summary["total_cost"]) == money(sum(expected.values()))
    assert float(summary["by_resource_type"]["network"]) == money(Decimal("3.5") * ap["network_gb"])
    response = caller.get("/api/v1/cost/summary?days=30&regions=ap-southeast-1")
    assert response.status_code == 200 and response.json()["data"]["total_cost"] == 0.42


def test_recommendations_find_idle_replicas_with_their_saving(caller, registered, eager):
    from regions.models import Replica

    with eager(execute=True):
        caller.post("/api/v1/replication/models", {"model_id": "churn", "source_region": "us-east-1",
                                                   "target_regions": ["eu-west-1"]})
    Replica.objects.filter(region__name="eu-west-1").update(size_bytes=50 * 10**9)
    caller.post("/api/v1/models/churn/predict", {"inputs": [[1, 2, 3, 4]]})  # traffic in us-east-1 only
    body = caller.get("/api/v1/cost/recommendations").json()["data"]
    idle = [r for r in body["recommendations"] if r["type"] == "remove_idle_replica"]
    assert idle and idle[0]["region"] == "eu-west-1" and idle[0]["savings_monthly"] == 1.25  # 50 GB x 0.025
    assert body["total_potential_savings"] >= 1.25


def test_focus_csv_import_feeds_the_billed_summary(client, caller, three_regions):
    csv = ("BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,RegionId,ServiceCategory,ServiceName\n"
           f"12.34,USD,{(timezone.now() - timedelta(days=2)).isoformat()},{timezone.now().isoformat()},"
           "us-east-1,Compute,EC2\n"
           f"0.66,USD,{(timezone.now() - timedelta(days=2)).isoformat()},{timezone.now().isoformat()},"
           "us-east-1,Storage,S3\n")
    response = client.post("/api/v1/cost/imports", csv.encode(), content_type="text/csv", **caller.headers)
    assert response.status_code == 201, response.content
    summary = caller.get("/api/v1/cost/summary?source=billed&days=7").json()["data"]
    assert summary["total_cost"] == 13.0 and summary["by_resource_type"] == {"compute": 12.34, "storage": 0.66}
    bad = client.post("/api/v1/cost/imports", b"a,b\n1,2\n", content_type="text/csv", **caller.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_BILLING_FILE"


def test_training_compute_of_federated_clients_is_priced_by_their_region(three_regions):
    from flcore.models import ClientUpdate, FLClient, TrainingExecution, TrainingRound
    from regions.services.cost import cost_summary
    from regions.services.regions import region_update

    region_update(name="eu-west-1", price_card={"training_second": Decimal("0.0125")})
    execution = TrainingExecution.objects.create(model_type="classification", total_rounds=1)
    round_ = TrainingRound.objects.create(execution=execution, round_number=1)
    client = FLClient.objects.create(name="c1", region="eu-west-1")
    for seconds in (60.5, 19.5):
        ClientUpdate.objects.create(round=round_, client=client, node_id="1", phase="train", duration_seconds=seconds)
    summary = cost_summary(days=1)
    assert float(summary["by_resource_type"]["training"]) == 1.0  # 80 s x 0.0125
    assert float(summary["by_region"]["eu-west-1"]) == 1.0


def _focus(cost: str) -> bytes:
    start, end = (timezone.now() - timedelta(days=2)).isoformat(), timezone.now().isoformat()
    return (f"BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,RegionId\n"
            f"1.50,USD,{start},{end},us-east-1\n{cost},USD,{start},{end},us-east-1\n").encode()


@pytest.mark.parametrize("cost", ["1e400", "nan", "NaN", "inf", "-Infinity", "100000000000000", "-1e14", "sNaN",
                                  "twelve"])
def test_an_amount_the_column_cannot_hold_is_422_naming_the_row(client, caller, cost):
    from regions.models import BillingRecord

    response = client.post("/api/v1/cost/imports", _focus(cost), content_type="text/csv", **caller.headers)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_BILLING_FILE" and error["message"].startswith("line 3: BilledCost")
    assert error["details"] == {"line": 3, "column": "BilledCost", "value": cost}
    assert not BillingRecord.objects.exists()  # the valid first row is not imported either
    assert caller.get("/api/v1/cost/summary?source=billed&days=365").status_code == 200


def test_the_billed_summary_answers_with_rows_stored_before_amounts_were_checked(client, caller):
    from django.db import connection

    from regions.models import BillingRecord

    ok = client.post("/api/v1/cost/imports", _focus("2.25"), content_type="text/csv", **caller.headers)
    assert ok.status_code == 201, ok.content
    near_max = Decimal("99999999999999.999999")  # the column's largest: two of them need 21 digits
    BillingRecord.objects.filter(billed_cost=Decimal("2.25")).update(billed_cost=near_max)
    BillingRecord.objects.create(region="us-east-1", resource_type="other", billed_cost=near_max, currency="USD",
                                 charge_period_start=timezone.now() - timedelta(days=1), charge_period_end=timezone.now())
    if connection.vendor == "sqlite":  # what 1e400 became once imported: an infinite REAL
        with connection.cursor() as cursor:
            cursor.execute("UPDATE regions_billingrecord SET billed_cost = 9e999 WHERE billed_cost = 1.5")
    response = caller.get("/api/v1/cost/summary?source=billed&days=365")
    assert response.status_code == 200, response.content


def test_a_csv_the_reader_cannot_read_is_400(client, caller):
    body = b"BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd\n1,USD,\x00,x\n"
    response = client.post("/api/v1/cost/imports", body, content_type="text/csv", **caller.headers)
    assert response.status_code in (400, 422) and response.json()["error"]["code"] == "INVALID_BILLING_FILE"
