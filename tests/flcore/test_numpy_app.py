"""The numpy ClientApp: same contract as fedplane's torch app, without importing torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from flcore.demo.data import write_digits_partitions
from flcore.runtime import numpy_app
from flcore.runtime.local_data import data_path_of
from flcore.runtime.model import build_model, initial_arrays, load_data, train
from flcore.runtime.records import REPLY_INFO_KEY

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"input-dim": 64, "num-classes": 10, "hidden-dim": 32, "seed": 0, "local-epochs": 1,
          "batch-size": 32, "learning-rate": 0.1}


@pytest.fixture
def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    # Instruction messages read the process's task identity, as in a driver.
    for name, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, name, value)
    paths, _test = write_digits_partitions(tmp_path, clients=3)
    node_config = {"data-path": str(paths[0]), "fedplane-client-id": "client-1"}
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config=CONFIG)


def ask(context: Context, kind: str, arrays: ArrayRecord | None = None, **config: int | float) -> Message:
    content = RecordDict({"config": ConfigRecord(config)})
    if arrays is not None:
        content["arrays"] = arrays
    return numpy_app.app(message=Message(content, dst_node_id=7, message_type=kind), context=context)


def test_train_replies_the_same_arrays_and_fedplane_records(context: Context) -> None:
    sent = initial_arrays(CONFIG)  # what the server starts a run with
    reply = ask(context, MessageType.TRAIN, sent, **{"server-round": 1})
    arrays = reply.content.array_records["arrays"]
    assert list(arrays) == list(sent)
    for key, array in arrays.items():
        assert array.shape == sent[key].shape and array.dtype == sent[key].dtype == "float32"
    metrics = reply.content.metric_records["metrics"]
    assert {"num-examples", "train-loss", "train-accuracy"} <= set(metrics)
    info = reply.content.config_records[REPLY_INFO_KEY]
    assert json.loads(str(info["node-config"]))["fedplane-client-id"] == "client-1"
    assert float(info["seconds"]) >= 0  # type: ignore[arg-type]


def test_loss_decreases_over_rounds_and_evaluate_uses_the_held_out_rows(context: Context) -> None:
    arrays, losses = initial_arrays(CONFIG), []
    for server_round in range(1, 5):
        reply = ask(context, MessageType.TRAIN, arrays, **{"server-round": server_round})
        arrays = reply.content.array_records["arrays"]
        losses.append(reply.content.metric_records["metrics"]["train-loss"])
    assert losses == sorted(losses, reverse=True), losses
    metrics = ask(context, MessageType.EVALUATE, arrays, **{"server-round": 5}).content.metric_records["metrics"]
    held_out = load_data(context.node_config["data-path"], CONFIG).y_eval  # the torch app's split
    assert metrics["num-examples"] == len(held_out) and 0 <= metrics["eval-accuracy"] <= 1


def test_a_full_batch_step_matches_the_torch_app(context: Context) -> None:
    config = {**CONFIG, "batch-size": 100_000, "proximal-mu": 0.5, "local-epochs": 2}
    model = build_model(config)
    params = {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}
    train(model, load_data(context.node_config["data-path"], config), config)
    x, y, _, _ = numpy_app._data(context, config)  # pylint: disable=protected-access
    numpy_app.train(params, x, y, config)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(params[key], value.numpy(), atol=1e-5)


def test_query_answers_the_node_config(context: Context) -> None:
    info = ask(context, MessageType.QUERY).content.config_records[REPLY_INFO_KEY]
    assert json.loads(str(info["node-config"])) == dict(context.node_config)


def test_a_simulated_node_finds_its_partition_file() -> None:
    assert data_path_of({"partition-id": 3}, {"partition-dir": "/p"}) == Path("/p/partition-3.npz")
    assert data_path_of({"data-path": "/d.npz", "partition-id": 3}, {"partition-dir": "/p"}) == Path("/d.npz")
    with pytest.raises(KeyError):
        data_path_of({"partition-id": 3}, {})


def test_importing_the_app_and_the_executor_does_not_import_torch() -> None:
    code = ("import sys, flcore.runtime.numpy_app, flcore.runtime.executor, flcore.runtime.supernode_main; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
