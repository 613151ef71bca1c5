"""fedplane's default model: a small torch MLP classifier, its data and its loops.

Server and clients both build the model from the run config, so the control plane
can create initial weights without any client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord
from torch import nn

# Re-exported: they live in the torch-free module the numpy ClientApp shares.
from .local_data import DEFAULTS, eval_split, read_xy, setting

__all__ = ["DEFAULTS", "LocalData", "build_model", "evaluate", "initial_arrays", "load_data", "read_xy",
           "setting", "train"]


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """MLP ``input-dim -> hidden-dim -> num-classes``, seeded by ``seed``."""
    torch.manual_seed(int(setting(config, "seed")))
    return nn.Sequential(
        nn.Linear(int(config["input-dim"]), int(setting(config, "hidden-dim"))),
        nn.ReLU(),
        nn.Linear(int(setting(config, "hidden-dim")), int(config["num-classes"])),
    )


def initial_arrays(config: Mapping[str, Any]) -> ArrayRecord:
    """Initial global weights for a run with this config."""
    return ArrayRecord(build_model(config).state_dict())


@dataclass
class LocalData:
    """A client's local split: training part and held-out evaluation part."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor


def load_data(path: str | Path, config: Mapping[str, Any]) -> LocalData:
    """Load ``.npz`` (``x``, ``y``) or ``.csv`` and split off ``eval-fraction``."""
    x, y = read_xy(Path(path))
    tr, ev = eval_split(len(y), config)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    return LocalData(xt[tr], yt[tr], xt[ev], yt[ev])


def train(model: nn.Module, data: LocalData, config: Mapping[str, Any]) -> tuple[float, float]:
    """Local SGD; FedProx's proximal term when ``proximal-mu`` > 0. Returns loss, acc."""
    mu = float(setting(config, "proximal-mu"))
    anchor = [p.detach().clone() for p in model.parameters()]  # the global weights
    opt = torch.optim.SGD(model.parameters(), lr=float(setting(config, "learning-rate")))
    loss_fn = nn.CrossEntropyLoss()
    # Deterministic, but a different batch order each round.
    shuffle_seed = int(setting(config, "seed")) + int(config.get("server-round", 0))
    gen = torch.Generator().manual_seed(shuffle_seed)
    batch = int(setting(config, "batch-size"))
    model.train()
    for _ in range(int(setting(config, "local-epochs"))):
        for idx in torch.randperm(len(data.y_train), generator=gen).split(batch):
            opt.zero_grad()
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            if mu > 0:
                prox = sum(
                    (p - a).pow(2).sum() for p, a in zip(model.parameters(), anchor, strict=True)
                )
                loss = loss + mu / 2 * prox
            loss.backward()
            opt.step()
    return evaluate(model, data.x_train, data.y_train)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``x``, ``y``."""
    model.eval()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).float().mean().item()
