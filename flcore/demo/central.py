"""The demo's yardstick: the federated model's twin, trained centrally on the rows the clients hold."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from flcore.runtime.model import LocalData, build_model, evaluate, load_data, train

from .data import load_test_set

__all__ = ["CentralResult", "train_centrally"]


class CentralResult(NamedTuple):
    accuracy: float
    rows: int  # training rows pooled
    epochs: int  # passes over them


def train_centrally(data_paths: Sequence[Path], test_path: Path, run_config: Mapping[str, Any],
                    rounds: int) -> CentralResult:
    """Train the execution's model on the pooled training rows of `data_paths` and return its accuracy
    on the held-out test set.

    Same data: each file's training rows, without the `eval-fraction` a client holds out for its own
    evaluation. Same budget as FedAvg with every client in every round, where each row is seen
    `rounds` x `local-epochs` times: `rounds` blocks of `local-epochs` epochs over the pooled rows.
    Same model, initial weights (seeded), SGD learning rate, batch size and each round's shuffle
    seed as the ClientApp (flcore.runtime.model.train); no proximal term (nothing to stay close to).
    """
    config = {**run_config, "proximal-mu": 0.0}
    parts = [load_data(path, config) for path in data_paths]
    none = torch.empty(0)
    pooled = LocalData(torch.cat([p.x_train for p in parts]), torch.cat([p.y_train for p in parts]), none, none)
    model = build_model(config)
    for round_number in range(1, rounds + 1):
        train(model, pooled, {**config, "server-round": round_number})
    x, y = load_test_set(test_path)
    _, accuracy = evaluate(model, torch.as_tensor(x), torch.as_tensor(y))
    return CentralResult(accuracy, len(pooled.y_train), rounds * int(config["local-epochs"]))
