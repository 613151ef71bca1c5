"""Metrics endpoints over stored rounds and client profiles: training series, system metrics,
data distribution, export (csv, json, parquet), and the WebSocket metrics stream."""
from __future__ import annotations

import asyncio
import csv
import io
import json

import pyarrow.parquet as pq
import pytest
import websockets

from fedplane.api.scopes import Scope
from flcore.models import FLClient, PerformanceMetric, TrainingExecution, TrainingRound
from tests.api.helpers import data_of, error_of

ALL_FL = [Scope.FL_TRAINING_EXECUTE, Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW, Scope.FL_MODELS_AGGREGATE]


def _execution_with_rounds() -> TrainingExecution:
    execution = TrainingExecution.objects.create(model_type="classification", algorithm="fedavg", total_rounds=3,
                                                 config={"rounds": 3, "minClients": 2}, status="running",
                                                 current_round=3, metrics={"loss": 0.4, "accuracy": 0.9})
    for n, (loss, acc) in enumerate([(1.2, 0.5), (0.7, 0.8), (0.4, 0.9)], start=1):
        TrainingRound.objects.create(execution=execution, round_number=n, status="completed",
                                     metrics={"evaluate": {"eval-loss": loss, "eval-accuracy": acc}})
        PerformanceMetric.objects.create(execution=execution, kind="training", name="loss", value=loss,
                                         round_number=n)
        PerformanceMetric.objects.create(execution=execution, kind="training", name="accuracy", value=acc,
                                         round_number=n)
    PerformanceMetric.objects.create(kind="system", node_type="client", name="cpu", value=37.5)
    return execution


@pytest.mark.django_db
def test_training_metrics_series_and_export_formats(api, make_key, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    api.auth(make_key(ALL_FL)[0])
    execution = _execution_with_rounds()
    body = data_of(api.get(f"/api/v1/fl/metrics/training?executionId={execution.id}"
                           "&metrics=loss,accuracy,convergence&aggregation=max&interval=1h"))["data"]
    assert [p["value"] for p in body["series"]["loss"]["perRound"]] == [1.2, 0.7, 0.4]
    assert body["series"]["loss"]["buckets"][0]["value"] == 1.2  # max over the hour
    assert body["series"]["convergence"]["converging"] is True
    error_of(api.get(f"/api/v1/fl/metrics/training?executionId={execution.id}&interval=2h"), 422)
    error_of(api.get(f"/api/v1/fl/metrics/training?executionId={execution.id}&metrics=vibes"), 422)
    system = data_of(api.get("/api/v1/fl/metrics/system?resource=cpu&nodeType=client&period=1h"))["data"]
    assert system["resources"][0]["latest"] == 37.5

    exported = {}
    for fmt in ("csv", "json", "parquet"):
        response = api.post("/api/v1/fl/metrics/export", {"executionId": str(execution.id), "format": fmt,
                                                          "metrics": ["loss"]})
        assert response.status_code == 200, response.content[:300]
        exported[fmt] = response.content
    rows_csv = list(csv.DictReader(io.StringIO(exported["csv"].decode())))
    rows_json = json.loads(exported["json"])
    rows_parquet = pq.read_table(io.BytesIO(exported["parquet"])).to_pylist()
    for rows in (rows_csv, rows_json, rows_parquet):
        assert [float(r["value"]) for r in rows] == [1.2, 0.7, 0.4]
    error_of(api.post("/api/v1/fl/metrics/export", {"executionId": str(execution.id), "format": "xlsx"}), 422)


@pytest.mark.django_db
def test_data_distribution_measures_heterogeneity_imbalance_and_quality(api, make_key, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    api.auth(make_key(ALL_FL)[0])
    execution = _execution_with_rounds()
    profiles = [{"samples": 100, "distribution": {"0": 100}, "quality": "high"},
                {"samples": 100, "distribution": {"1": 100}, "quality": "low"},
                {"samples": 300, "distribution": {"0": 150, "1": 150}, "quality": "high"}]
    for i, profile in enumerate(profiles):
        client = FLClient.objects.create(name=f"c{i}", data_profile=profile)
        client.assignments.create(execution=execution)
    body = data_of(api.get(f"/api/v1/fl/metrics/data-distribution?executionId={execution.id}"))["data"]
    per_client = sorted(body["heterogeneity"]["perClient"].values())
    assert per_client[0] == 0.0 and per_client[1] == pytest.approx(0.311, abs=1e-3)  # one-class clients
    assert body["imbalance"]["maxMinSampleRatio"] == 3.0
    assert body["quality"]["byQuality"] == {"high": 2, "low": 1}


def _advance(pk) -> None:
    from django.db import connection

    TrainingExecution.objects.filter(pk=pk).update(current_round=4)
    connection.close()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_websocket_metrics_stream_pushes_the_execution_at_the_interval(live_server_url, make_key):
    key, _ = make_key([Scope.FL_METRICS_VIEW])
    execution = _execution_with_rounds()

    async def scenario():
        url = live_server_url.replace("http://", "ws://") + "/fl/events"
        async with websockets.connect(url, additional_headers={"X-API-Key": key}) as ws:
            await ws.send(json.dumps({"action": "stream", "type": "metrics", "executionId": str(execution.id),
                                      "interval": 250}))
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await asyncio.to_thread(_advance, execution.pk)
            while True:
                later = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if later["data"]["currentRound"] == 4:
                    return first, later
    first, later = asyncio.run(scenario())
    assert first["event"] == "metrics.stream" and first["data"]["currentRound"] == 3
    assert first["data"]["metrics"] == {"loss": 0.4, "accuracy": 0.9}
