"""A ClientApp that loads and answers fedplane's node query, but raises in every training: its
error replies must fail the execution with FL003 naming each node. Select it with
``config.clientApp = "tests.support.broken_app:app"``."""
from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from flcore.runtime import numpy_app

__all__ = ["REASON", "app"]

REASON = "this app cannot train"

app = ClientApp()
app.evaluate()(numpy_app.evaluate_handler)
app.query()(numpy_app.query_handler)


@app.train()
def train(msg: Message, context: Context) -> Message:
    raise RuntimeError(REASON)
