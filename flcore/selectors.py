"""Reads of the federated-learning domain used by views (and the admin)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, Max, Min, Sum
from django.utils import timezone

from fedplane.api.errors import DomainError

from .errors import RoundNotFound
from .models import AggregatedModel, ClientUpdate, FLClient, PerformanceMetric, TrainingRound

__all__ = ["round_get", "round_metrics", "checkpoint_of", "open_artifact", "flower_connection", "client_metrics",
           "PERIODS", "period_start"]

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def period_start(period: str | None, default: str = "24h"):
    key = period or default
    if key not in PERIODS:
        raise DomainError(f"period must be one of {sorted(PERIODS)}", code="VALIDATION_ERROR", status=422,
                          details={"period": key})
    return timezone.now() - PERIODS[key]


def round_get(rounds, round_number) -> TrainingRound:
    found = rounds.filter(round_number=round_number).first()
    if found is None:
        raise RoundNotFound(f"Round {round_number} not found.", details={"round": round_number})
    return found


def round_metrics(round_: TrainingRound) -> dict:
    updates = list(round_.updates.all())
    train = [u for u in updates if u.phase == "train" and not u.error]
    return {
        "roundNumber": round_.round_number,
        "aggregated": round_.metrics,
        "timings": round_.timings,
        "participation": {"clients": len(train), "lostNodes": round_.lost_node_ids,
                          "examples": sum(u.num_examples for u in train)},
        "clients": [{"clientId": str(u.client_id) if u.client_id else None, "nodeId": u.node_id,
                     "phase": u.phase, "numExamples": u.num_examples, "metrics": u.metrics,
                     "durationSeconds": u.duration_seconds} for u in updates],
    }


def checkpoint_of(round_: TrainingRound) -> AggregatedModel:
    model = getattr(round_, "aggregated_model", None)
    if model is None:
        raise RoundNotFound(f"Round {round_.round_number} has no stored model.")
    return model


def open_artifact(model: AggregatedModel):
    path = settings.FEDPLANE_ARTIFACT_ROOT / model.artifact_path
    return open(path, "rb"), f"execution-{model.execution_id}-round-{model.round_number}.safetensors"


def flower_connection() -> dict:
    """What a SuperNode needs to reach this deployment's SuperLink."""
    return {"superlinkAddress": settings.FLOWER_SUPERLINK_PUBLIC_ADDRESS,
            "insecure": not settings.FLOWER_ROOT_CERTIFICATES,
            # True: start the SuperNode with the private key of the registered publicKey.
            "nodeAuth": settings.FLOWER_NODE_AUTH,
            "flwrVersion": _flwr_version()}


def _flwr_version() -> str:
    from importlib.metadata import version
    return version("flwr")


def client_metrics(client: FLClient, metrics: str | None, period: str) -> dict:
    since = period_start(period)
    updates = ClientUpdate.objects.filter(client=client, received_at__gte=since)
    train = updates.filter(phase="train")
    result: dict = {"clientId": str(client.id), "period": period}
    wanted = set((metrics or "performance,data_quality,contribution").split(","))
    if "performance" in wanted:
        result["performance"] = {
            **train.aggregate(rounds=Count("id"), meanDurationSeconds=Avg("duration_seconds"),
                              maxDurationSeconds=Max("duration_seconds"), minDurationSeconds=Min("duration_seconds")),
            "evaluations": [{"round": u.round.round_number, **u.metrics}
                            for u in updates.filter(phase="evaluate").select_related("round")[:100]],
            "system": {m.name: m.value for m in PerformanceMetric.objects.filter(
                client=client, kind="system", recorded_at__gte=since).order_by("recorded_at")},
        }
    if "data_quality" in wanted:
        result["dataQuality"] = client.data_profile
    if "contribution" in wanted:
        mine = train.aggregate(examples=Sum("num_examples"))["examples"] or 0
        rounds = TrainingRound.objects.filter(updates__in=train).distinct()
        total = ClientUpdate.objects.filter(round__in=rounds, phase="train").aggregate(
            examples=Sum("num_examples"))["examples"] or 0
        result["contribution"] = {"examples": mine, "rounds": rounds.count(),
                                  "share": round(mine / total, 6) if total else 0.0}
    return result
