"""fedplane's Flower ClientApp (message API), loaded by SuperNodes from the FAB.

Every reply carries, beside the ArrayRecord and MetricRecord strategies aggregate,
a ConfigRecord ``fedplane`` with the node config and the handler's duration, so the
driver can attribute results to fedplane clients.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from flwr.app import (
    ArrayRecord,
    Context,
    Message,
    MetricRecord,
    MetricRecordValues,
    RecordDict,
)
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common.recorddict_compat import fitres_to_recorddict, recorddict_to_fitins

from .local_data import data_path_of
from .model import build_model, evaluate, load_data, train
from .records import REPLY_INFO_KEY
from .replies import handler_config, info_record

__all__ = ["app", "secure_app"]

app = ClientApp()
# The same handlers, but training answers SecAgg+'s stages (legacy FitIns/FitRes records)
# and sends only a masked update: see flcore/runtime/secure.py.
secure_app = ClientApp()
torch.set_num_threads(1)  # several ClientApps share a host; keep runs reproducible


def _model(msg: Message, config: Mapping[str, Any]) -> torch.nn.Module:
    model = build_model(config)
    arrays = next(iter(msg.content.array_records.values()))
    model.load_state_dict(arrays.to_torch_state_dict())
    return model


@app.train()
def train_handler(msg: Message, context: Context) -> Message:
    """Train the received global model on local data; reply with new weights."""
    started = time.monotonic()
    config = handler_config(msg, context)
    data = load_data(data_path_of(context.node_config, config), config)
    model = _model(msg, config)
    loss, acc = train(model, data, config)
    metrics: dict[str, MetricRecordValues] = {
        "num-examples": len(data.y_train),
        "train-loss": loss,
        "train-accuracy": acc,
    }
    content = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord(metrics),
            REPLY_INFO_KEY: info_record(context, started),
        }
    )
    return Message(content=content, reply_to=msg)


@secure_app.train(mods=[secaggplus_mod])
def secure_train_handler(msg: Message, context: Context) -> Message:
    """Train like ``train_handler``; the mod masks the reply's weights before they leave."""
    started = time.monotonic()
    fitins = recorddict_to_fitins(msg.content, keep_input=True)
    config = {**context.run_config, **fitins.config}
    data = load_data(data_path_of(context.node_config, config), config)
    model = build_model(config)
    names = list(model.state_dict())
    model.load_state_dict({name: torch.as_tensor(value) for name, value in
                           zip(names, parameters_to_ndarrays(fitins.parameters), strict=True)})
    loss, acc = train(model, data, config)
    weights = [tensor.detach().numpy() for tensor in model.state_dict().values()]
    fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(weights), len(data.y_train),
                    {"train-loss": loss, "train-accuracy": acc})
    content = fitres_to_recorddict(fitres, keep_input=False)
    content[REPLY_INFO_KEY] = info_record(context, started)
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate_handler(msg: Message, context: Context) -> Message:
    """Evaluate the received global model on the local held-out split."""
    started = time.monotonic()
    config = handler_config(msg, context)
    data = load_data(data_path_of(context.node_config, config), config)
    loss, acc = evaluate(_model(msg, config), data.x_eval, data.y_eval)
    metrics: dict[str, MetricRecordValues] = {
        "num-examples": len(data.y_eval),
        "eval-loss": loss,
        "eval-accuracy": acc,
    }
    content = RecordDict(
        {"metrics": MetricRecord(metrics), REPLY_INFO_KEY: info_record(context, started)}
    )
    return Message(content=content, reply_to=msg)


@app.query()
def query_handler(msg: Message, context: Context) -> Message:
    """Answer the driver's node discovery with this node's config."""
    return Message(RecordDict({REPLY_INFO_KEY: info_record(context, time.monotonic())}), reply_to=msg)


secure_app.evaluate()(evaluate_handler)
secure_app.query()(query_handler)
