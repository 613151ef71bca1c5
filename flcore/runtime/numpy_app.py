"""A light ClientApp: fedplane's MLP trained in numpy, for many SuperNodes on one host.

Same contract as ``flcore.runtime.app:app`` (same weights, metrics and ``fedplane``
ConfigRecord), but it imports numpy and flwr only: a warm executor holding it costs
tens of MB instead of torch's hundreds, so dozens of real SuperNodes fit on one
machine (``bench/scale``). Select it with ``clientapp="flcore.runtime.numpy_app:app"``.
The weights are the torch state dict of ``model.build_model`` (``0.*`` the hidden
layer, ``2.*`` the output layer; torch's ``Linear`` keeps weights as out x in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from .local_data import data_path_of, eval_split, read_xy, setting
from .records import REPLY_INFO_KEY
from .replies import handler_config, info_record

__all__ = ["app"]

app = ClientApp()
Params = dict[str, np.ndarray]


def _data(context: Context, config: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_eval, y_eval) with the same held-out rows as app.py."""
    x, y = read_xy(data_path_of(context.node_config, config))  # message config over run config, as app.py
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y).astype(np.int64)
    train, held_out = eval_split(len(y), config)
    return x[train], y[train], x[held_out], y[held_out]


def _params(msg: Message) -> Params:
    arrays = next(iter(msg.content.array_records.values()))
    return {key: np.array(array.numpy(), dtype=np.float32) for key, array in arrays.items()}


def _forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pre = x @ p["0.weight"].T + p["0.bias"]
    hidden = np.maximum(pre, 0.0)
    return pre, hidden, hidden @ p["2.weight"].T + p["2.bias"]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def evaluate(p: Params, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy."""
    logits = _forward(p, x)[2]
    loss = -_log_softmax(logits)[np.arange(len(y)), y].mean()
    return float(loss), float((logits.argmax(axis=1) == y).mean())


def _sgd_step(p: Params, x: np.ndarray, y: np.ndarray, lr: float, mu: float, anchor: Params) -> None:
    """One minibatch of SGD on mean cross-entropy (+ FedProx's mu/2 |w - w_global|^2)."""
    pre, hidden, logits = _forward(p, x)
    d_logits = np.exp(_log_softmax(logits))
    d_logits[np.arange(len(y)), y] -= 1.0
    d_logits /= len(y)
    d_hidden = (d_logits @ p["2.weight"]) * (pre > 0)
    grads = {"2.weight": d_logits.T @ hidden, "2.bias": d_logits.sum(axis=0),
             "0.weight": d_hidden.T @ x, "0.bias": d_hidden.sum(axis=0)}
    for key, grad in grads.items():
        if mu > 0:
            grad = grad + mu * (p[key] - anchor[key])
        p[key] -= np.float32(lr) * grad.astype(np.float32, copy=False)


def train(p: Params, x: np.ndarray, y: np.ndarray, config: Mapping[str, Any]) -> tuple[float, float]:
    """Local SGD in place; returns loss and accuracy on the training rows afterwards."""
    anchor = {key: value.copy() for key, value in p.items()}
    lr, mu = float(setting(config, "learning-rate")), float(setting(config, "proximal-mu"))
    batch = int(setting(config, "batch-size"))
    # Deterministic, but a different batch order each round (as app.py).
    rng = np.random.default_rng(int(setting(config, "seed")) + int(config.get("server-round", 0)))
    for _ in range(int(setting(config, "local-epochs"))):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start:start + batch]
            _sgd_step(p, x[idx], y[idx], lr, mu, anchor)
    return evaluate(p, x, y)


# How a handler reads the global weights from a message, and writes its new weights as arrays:
# plain here; he_app decrypts and encrypts (CKKS) with the same handlers.
ReadWeights = Callable[[Message, Context, Mapping[str, Any]], Params]
WriteWeights = Callable[[Params, Context, Mapping[str, Any]], Mapping[str, np.ndarray]]


def _plain_weights(msg: Message, context: Context, config: Mapping[str, Any]) -> Params:
    return _params(msg)


def _as_arrays(params: Params, context: Context, config: Mapping[str, Any]) -> Params:
    return params


def train_reply(msg: Message, context: Context, read: ReadWeights = _plain_weights,
                write: WriteWeights = _as_arrays) -> Message:
    """Train the received global model on local data; reply with the new weights."""
    started = time.monotonic()
    config = handler_config(msg, context)
    x_train, y_train, _, _ = _data(context, config)
    params = read(msg, context, config)
    loss, acc = train(params, x_train, y_train, config)
    written = write(params, context, config)
    arrays = ArrayRecord({key: Array.from_numpy_ndarray(value) for key, value in written.items()})
    metrics = MetricRecord({"num-examples": len(y_train), "train-loss": loss, "train-accuracy": acc})
    content = RecordDict({"arrays": arrays, "metrics": metrics, REPLY_INFO_KEY: info_record(context, started)})
    return Message(content=content, reply_to=msg)


def evaluate_reply(msg: Message, context: Context, read: ReadWeights = _plain_weights) -> Message:
    """Evaluate the received global model on the local held-out rows."""
    started = time.monotonic()
    config = handler_config(msg, context)
    _, _, x_eval, y_eval = _data(context, config)
    loss, acc = evaluate(read(msg, context, config), x_eval, y_eval)
    metrics = MetricRecord({"num-examples": len(y_eval), "eval-loss": loss, "eval-accuracy": acc})
    return Message(RecordDict({"metrics": metrics, REPLY_INFO_KEY: info_record(context, started)}), reply_to=msg)


@app.train()
def train_handler(msg: Message, context: Context) -> Message:
    return train_reply(msg, context)


@app.evaluate()
def evaluate_handler(msg: Message, context: Context) -> Message:
    return evaluate_reply(msg, context)


@app.query()
def query_handler(msg: Message, context: Context) -> Message:
    """Answer the driver's node discovery with this node's config."""
    return Message(RecordDict({REPLY_INFO_KEY: info_record(context, time.monotonic())}), reply_to=msg)
