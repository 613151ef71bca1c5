"""A ClientApp for simulations with a known straggler: fedplane's numpy app, except that virtual
client 0 (``partition-id`` 0) takes ``STRAGGLER_SECONDS`` longer to train every round.
Select it with ``config.clientApp = "tests.support.straggler_app:app"``."""
from __future__ import annotations

import time

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from flcore.runtime import numpy_app

__all__ = ["STRAGGLER_SECONDS", "app"]

STRAGGLER_SECONDS = 10.0

app = ClientApp()
app.evaluate()(numpy_app.evaluate_handler)
app.query()(numpy_app.query_handler)


@app.train()
def train(msg: Message, context: Context) -> Message:
    if int(context.node_config.get("partition-id", -1)) == 0:
        time.sleep(STRAGGLER_SECONDS)
    return numpy_app.train_handler(msg, context)
