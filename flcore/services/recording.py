"""Record what Flower reported about a round: rounds, client updates, model, metrics, events."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import psutil
from django.db import transaction
from django.utils import timezone

from fedplane.events.services import NewEvent, emit, emit_many

from ..artifacts import StoredArtifact
from ..he import is_encrypted
from ..choices import ClientStatus, RoundStatus, UpdatePhase
from ..models import AggregatedModel, ClientUpdate, FLClient, PerformanceMetric, TrainingExecution, TrainingRound
from ..runtime.records import RoundRecord, RoundSettings
from .round_metrics import execution_labels, observe_failed_round, observe_round

__all__ = ["record_round_started", "record_round", "record_round_failed", "clients_by_node"]


def clients_by_node(record: RoundRecord) -> dict[int, FLClient]:
    """Map each replying Flower node to its registered client (node config first, then known node id)."""
    by_id = {u.node_id: u.client_id for u in (*record.train, *record.evaluate) if u.client_id}
    found = {str(c.pk): c for c in FLClient.objects.filter(pk__in=set(by_id.values()))}
    mapping = {node: found[cid] for node, cid in by_id.items() if cid in found}
    # Lost nodes sent nothing back; their clients are known by the node id they reported.
    unknown = {u.node_id for u in (*record.train, *record.evaluate)} | set(record.lost_node_ids)
    unknown -= set(mapping)
    if unknown:
        known = FLClient.objects.filter(node_id__in=[str(n) for n in unknown])
        mapping.update({int(c.node_id): c for c in known})
    return mapping


def record_round_started(execution_id, round_number: int, node_ids: list[int]) -> None:
    with transaction.atomic():
        TrainingRound.objects.update_or_create(
            execution_id=execution_id, round_number=round_number,
            defaults={"status": RoundStatus.COLLECTING, "started_at": timezone.now(), "completed_at": None})
        emit("round.started", {"executionId": str(execution_id), "round": round_number,
                               "sampledNodes": len(node_ids)})


def _finite(metrics: dict) -> dict:
    def value(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return [value(x) for x in v] if isinstance(v, list) else v
    return {key: value(v) for key, v in metrics.items()}


def json_safe(record: RoundRecord) -> RoundRecord:
    """The record with NaN/Inf metrics as null: JSON has no such numbers (PostgreSQL's jsonb refuses
    them), and a diverging client's loss is no reason to lose its round."""
    return replace(record, train_metrics=_finite(record.train_metrics),
                   evaluate_metrics=_finite(record.evaluate_metrics),
                   train=[replace(u, metrics=_finite(u.metrics)) for u in record.train],
                   evaluate=[replace(u, metrics=_finite(u.metrics)) for u in record.evaluate])


@transaction.atomic
def record_round(execution: TrainingExecution, record: RoundRecord, *, artifact: StoredArtifact,
                 accepted: bool, privacy: dict | None, state_path: str = "", model_spec: dict) -> TrainingRound:
    """Store one finished round in one transaction, with the seed's events.

    Every per-client write is one bulk statement, so a round costs the database the same
    number of statements whether 5 or 500 clients took part.
    """
    execution_id = str(execution.id)
    record = json_safe(record)
    clients = clients_by_node(record)
    round_, _ = TrainingRound.objects.update_or_create(
        execution=execution, round_number=record.round_number,
        defaults={"status": RoundStatus.COMPLETED if accepted else RoundStatus.REJECTED, "accepted": accepted,
                  "flower_run_id": str(record.run_id), "timings": record.timings,
                  "lost_node_ids": [str(n) for n in record.lost_node_ids],
                  "stragglers": _stragglers(record, clients), "settings": _settings(record.settings),
                  "metrics": {"train": record.train_metrics, "evaluate": record.evaluate_metrics,
                              **({"privacy": privacy} if privacy else {})},
                  "completed_at": timezone.now()})
    _store_updates(round_, record, clients)
    performance = {**record.evaluate_metrics}
    AggregatedModel.objects.update_or_create(
        round=round_, defaults={
            "execution": execution, "round_number": record.round_number, "algorithm": execution.algorithm,
            "performance": performance, "artifact_path": artifact.path, "sha256": artifact.sha256,
            "size_bytes": artifact.size_bytes, "strategy_state_path": state_path,
            "metadata": {"modelSpec": model_spec, "tensors": {
                name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in record.arrays.items()},
                "accepted": accepted, **({"encrypted": "ckks"} if is_encrypted(record.arrays) else {})}})
    now = timezone.now()
    PerformanceMetric.objects.bulk_create([
        PerformanceMetric(execution=execution, kind="training", node_type="server", name=name, value=float(value),
                          round_number=record.round_number, recorded_at=now)
        for name, value in _flat_metrics(record).items()])
    PerformanceMetric.objects.bulk_create([  # the aggregating worker's own load
        PerformanceMetric(execution=execution, kind="system", node_type="server", name=name, value=value,
                          round_number=record.round_number, recorded_at=now)
        for name, value in _server_readings(artifact.size_bytes).items()])
    trained = [u for u in record.train if not u.error and not u.rejection]  # an error reply (e.g. expired) is no update
    participants = {c.pk for n, c in clients.items() if n in {u.node_id for u in trained}}
    FLClient.objects.filter(pk__in=participants).update(last_seen=now, status=ClientStatus.TRAINING)
    moved = []
    for node_id, client in clients.items():  # a restarted SuperNode comes back under a new id
        if client.node_id != str(node_id):
            client.node_id = str(node_id)
            moved.append(client)
    FLClient.objects.bulk_update(moved, ["node_id"])

    execution.current_round = record.round_number
    execution.participating_clients = len(trained)
    execution.metrics = {**execution.metrics, **_flat_metrics(record), "round": record.round_number,
                         **({"privacy": privacy} if privacy else {})}
    execution.heartbeat_at = now
    execution.save(update_fields=["current_round", "participating_clients", "metrics", "heartbeat_at", "updated_at"])

    events = [NewEvent("client.update_received", {
        "executionId": execution_id, "round": record.round_number, "clientId": _client_id(clients, u.node_id),
        "nodeId": str(u.node_id), "numExamples": u.num_examples, "metrics": u.metrics}) for u in trained]
    events += [NewEvent("client.left", {
        "executionId": execution_id, "round": record.round_number, "nodeId": str(node_id),
        "clientId": _client_id(clients, node_id)}, severity="warning") for node_id in record.lost_node_ids]
    events += _rejected_events(execution_id, record, clients)
    events += [
        NewEvent("model.aggregated", {"executionId": execution_id, "round": record.round_number,
                                      "sha256": artifact.sha256, "sizeBytes": artifact.size_bytes,
                                      "accepted": accepted}),
        NewEvent("round.completed", {"executionId": execution_id, "round": record.round_number,
                                     "accepted": accepted, "participatingClients": len(trained),
                                     "metrics": round_.metrics, "timings": record.timings}),
        NewEvent("metrics.updated", {"executionId": execution_id, "round": record.round_number,
                                     "metrics": _flat_metrics(record)})]
    emit_many(events)
    # Prometheus counts what the database kept: nothing for a round whose transaction rolled back.
    transaction.on_commit(partial(observe_round, execution_labels(execution.algorithm, execution.runtime), record,
                                  accepted=accepted))
    return round_


@transaction.atomic
def record_round_failed(execution: TrainingExecution, record: RoundRecord) -> TrainingRound:
    """A round that failed after training (its evaluation failed): its updates are kept, the round
    is closed as failed, and no model is stored."""
    record = json_safe(record)
    clients = clients_by_node(record)
    round_, _ = TrainingRound.objects.update_or_create(
        execution=execution, round_number=record.round_number,
        defaults={"status": RoundStatus.FAILED, "accepted": False, "flower_run_id": str(record.run_id),
                  "lost_node_ids": [str(n) for n in record.lost_node_ids], "settings": _settings(record.settings),
                  "metrics": {"train": record.train_metrics}, "completed_at": timezone.now()})
    _store_updates(round_, record, clients)
    emit_many(_rejected_events(str(execution.id), record, clients))
    transaction.on_commit(partial(observe_failed_round, execution_labels(execution.algorithm, execution.runtime),
                                  record))
    return round_


def _store_updates(round_: TrainingRound, record: RoundRecord, clients: dict[int, FLClient]) -> None:
    round_.updates.all().delete()  # a re-run of the same round replaces its updates
    ClientUpdate.objects.bulk_create([
        ClientUpdate(round=round_, client=clients.get(u.node_id), node_id=str(u.node_id),
                     partition_id=u.partition_id, phase=phase, num_examples=u.num_examples, metrics=u.metrics,
                     duration_seconds=u.seconds, error=u.error or "", rejection=u.rejection or "")
        for phase, items in ((UpdatePhase.TRAIN, record.train), (UpdatePhase.EVALUATE, record.evaluate))
        for u in items])


def _rejected_events(execution_id: str, record: RoundRecord, clients: dict[int, FLClient]) -> list[NewEvent]:
    return [NewEvent("client.update_rejected", {
        "executionId": execution_id, "round": record.round_number, "nodeId": str(u.node_id),
        "clientId": _client_id(clients, u.node_id), "reason": u.rejection}, severity="warning")
        for u in record.train if u.rejection]


def _client_id(clients: dict[int, FLClient], node_id: int) -> str | None:
    client = clients.get(node_id)
    return str(client.pk) if client else None


def _stragglers(record: RoundRecord, clients: dict[int, FLClient]) -> list[dict]:
    partitions = {u.node_id: u.partition_id for u in (*record.train, *record.evaluate)}
    return [{"nodeId": str(s.node_id), "clientId": _client_id(clients, s.node_id),
             "partitionId": s.partition_id if s.partition_id is not None else partitions.get(s.node_id),
             "phase": s.phase, "seconds": s.seconds,
             "lateBySeconds": s.late_by_seconds, "timedOut": s.timed_out} for s in record.stragglers]


def _settings(settings: RoundSettings | None) -> dict:
    if settings is None:  # a record from before rounds had settings
        return {}
    return {"roundTimeoutSeconds": settings.timeout, "minResponders": settings.min_responders,
            "acceptedFailureFraction": settings.accepted_failure_fraction}


def _server_readings(model_bytes: int) -> dict[str, float]:
    process = psutil.Process()
    io = psutil.net_io_counters()
    return {"cpu": psutil.cpu_percent(interval=None), "memory": float(process.memory_info().rss),
            "network": float(io.bytes_sent + io.bytes_recv), "storage": float(model_bytes)}


def _flat_metrics(record: RoundRecord) -> dict[str, float]:
    """Round metrics as plain floats: `train_loss`, `train_accuracy`, and the evaluate
    phase's as `loss`, `accuracy` (the names the seed's metrics endpoints use)."""
    flat: dict[str, float] = {}
    for key, value in record.train_metrics.items():
        if isinstance(value, (int, float)) and key != "num-examples":
            name = key.replace("-", "_")
            flat[name if name.startswith("train_") else f"train_{name}"] = float(value)
    for key, value in record.evaluate_metrics.items():
        if isinstance(value, (int, float)) and key != "num-examples":
            flat[key.replace("-", "_").removeprefix("eval_")] = float(value)
    return flat
