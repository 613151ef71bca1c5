"""ClientApps where one client misbehaves and the others train honestly (fedplane's numpy app).

The hostile client is a simulation's virtual client with ``partition-id`` 0:
``garbage_app`` sends large random arrays of the right shapes (a Byzantine client the
robust strategies must withstand), ``nan_app`` sends NaN in one array (screening must
reject it).
``rising_app`` is honest but reports an evaluation loss of 10 x the round number from every
client: a training that diverges by any factor-over-rounds rule.
"""
from __future__ import annotations

import zlib

import numpy as np
from flwr.app import Array, Context, Message
from flwr.clientapp import ClientApp

from flcore.runtime import numpy_app

__all__ = ["GARBAGE_SCALE", "garbage_app", "nan_app", "rising_app"]

GARBAGE_SCALE = 1e3


def _hostile(context: Context) -> bool:
    return int(context.node_config.get("partition-id", -1)) == 0


def _app(train=numpy_app.train_handler, evaluate=numpy_app.evaluate_handler) -> ClientApp:
    app = ClientApp()
    app.train()(train)
    app.evaluate()(evaluate)
    app.query()(numpy_app.query_handler)
    return app


def _corrupting(corrupt):
    """A train handler that trains honestly, then has the hostile client corrupt what it sends."""
    def train(msg: Message, context: Context) -> Message:
        reply = numpy_app.train_handler(msg, context)
        if _hostile(context):
            arrays = reply.content["arrays"]
            for key in list(arrays.keys()):
                arrays[key] = Array(corrupt(key, arrays[key].numpy()))
        return reply
    return train


def _garbage(key: str, value: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(key.encode()))  # the same garbage in every process
    return (rng.normal(size=value.shape) * GARBAGE_SCALE).astype(value.dtype)


def _nan(key: str, value: np.ndarray) -> np.ndarray:
    value = value.copy()
    if key == "0.weight":
        value.flat[0] = np.nan
    return value


garbage_app = _app(train=_corrupting(_garbage))
nan_app = _app(train=_corrupting(_nan))


def _rising_evaluate(msg: Message, context: Context) -> Message:
    reply = numpy_app.evaluate_handler(msg, context)
    reply.content["metrics"]["eval-loss"] = 10.0 * float(msg.content["config"]["server-round"])
    return reply


rising_app = _app(evaluate=_rising_evaluate)
