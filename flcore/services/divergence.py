"""Divergence detection: an execution that asks for it ends with FL008 instead of training on.

``config.divergence = {"metric": "eval-loss", "factor": 2.0, "rounds": 3}``: the run has
diverged when the metric (a loss, lower is better) is not finite, or has stayed above
``factor`` times the best value of the earlier rounds for ``rounds`` rounds in a row.
The history is read from the recorded rounds, so a resumed execution keeps counting.
"""
from __future__ import annotations

import math
from typing import Any

from ..choices import RoundStatus
from ..models import TrainingRound
from ..runtime.errors import Diverged
from ..runtime.records import RoundRecord

__all__ = ["check_divergence", "diverged"]


def diverged(losses: list[float], *, factor: float, rounds: int) -> str | None:
    """Why the losses (in round order, the last one just recorded) show divergence, or None."""
    if not losses:
        return None
    if not math.isfinite(losses[-1]):
        return f"the loss is {losses[-1]}"
    streak = 0
    for i in range(len(losses) - 1, 0, -1):  # trailing rounds above factor x the best before them
        best = min(losses[:i])
        if not losses[i] > factor * best:
            break
        streak += 1
    if streak >= rounds:
        return (f"the loss stayed above {factor:g} x its best ({min(losses[:len(losses) - streak]):.6g}) "
                f"for {streak} rounds, now {losses[-1]:.6g}")
    return None


def _loss_of(metrics: dict[str, Any], name: str) -> float | None:
    for phase in ("evaluate", "train"):
        value = (metrics.get(phase) or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def check_divergence(execution_id, rule: dict[str, Any], record: RoundRecord) -> None:
    """Raise ``Diverged`` when the round just run, after the recorded ones, shows divergence."""
    if not rule:
        return
    metric, factor, rounds = str(rule.get("metric", "eval-loss")), float(rule.get("factor", 2.0)), int(
        rule.get("rounds", 3))
    current = _loss_of({"evaluate": record.evaluate_metrics, "train": record.train_metrics}, metric)
    if current is None:
        return
    history = TrainingRound.objects.filter(execution_id=execution_id, status=RoundStatus.COMPLETED,
                                           round_number__lt=record.round_number).order_by("round_number")
    losses = [loss for loss in (_loss_of(m, metric) for m in history.values_list("metrics", flat=True))
              if loss is not None] + [current]
    reason = diverged(losses, factor=factor, rounds=rounds)
    if reason is not None:
        raise Diverged(f"Training diverged at round {record.round_number}: {metric} {reason}.",
                       {"round": record.round_number, "metric": metric, "factor": factor, "rounds": rounds,
                        "recent": [v if math.isfinite(v) else str(v) for v in losses[-(rounds + 1):]]})
