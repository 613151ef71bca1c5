"""ClientApps that load and answer fedplane's node query, but fail: ``app`` raises in every
training, ``evaluate_app`` trains and raises in every evaluation. Their error replies must fail
the execution with FL003 naming each node. Select one with
``config.clientApp = "tests.support.broken_app:app"`` (or ``:evaluate_app``)."""
from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from flcore.runtime import numpy_app

__all__ = ["REASON", "app", "evaluate_app"]

REASON = "this app cannot train"

app = ClientApp()
app.evaluate()(numpy_app.evaluate_handler)
app.query()(numpy_app.query_handler)


@app.train()
def train(msg: Message, context: Context) -> Message:
    raise RuntimeError(REASON)


evaluate_app = ClientApp()
evaluate_app.train()(numpy_app.train_handler)
evaluate_app.query()(numpy_app.query_handler)


@evaluate_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    raise RuntimeError(REASON)
