"""A ClientApp for SecAgg+ tests: node i "trains" to the constant (i + 1) / 10 on
100 * (i + 1) examples, so the securely aggregated model has a known exact value."""
from __future__ import annotations

import numpy as np
from flwr.app import Context, Message
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common.recorddict_compat import fitres_to_recorddict, recorddict_to_fitins

from flcore.runtime.app import evaluate_handler, query_handler

app = ClientApp()
app.evaluate()(evaluate_handler)
app.query()(query_handler)


def contribution(partition: int) -> tuple[float, int]:
    return (partition + 1) / 10, 100 * (partition + 1)


@app.train(mods=[secaggplus_mod])
def train(msg: Message, context: Context) -> Message:
    value, examples = contribution(int(context.node_config["partition-id"]))
    arrays = parameters_to_ndarrays(recorddict_to_fitins(msg.content, keep_input=True).parameters)
    update = [np.full_like(array, value) for array in arrays]
    fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(update), examples, {"train-loss": value})
    return Message(fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)
