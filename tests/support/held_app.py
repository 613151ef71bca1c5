"""A ClientApp for live tests: fedplane's numpy app, except that a test can hold a node's reply.

While the file ``hold_path(data, phase, round)`` exists next to a node's data file, that
node's handler for the phase of that round waits (after writing ``holding_path(...)``, so
the test knows it got there). A test uses it to decide what happens between two rounds:
the round cannot end while one of its nodes holds its reply, and a node that holds is
sure not to answer. Select it with ``config.clientApp = "tests.support.held_app:app"``.
"""
from __future__ import annotations

from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from flcore.runtime import numpy_app
from tests.support.processes import wait_until

__all__ = ["app", "hold_path", "holding_path"]

HOLD_AT_MOST_SECONDS = 300.0  # then the reply is an error: a test that forgot a hold still ends

app = ClientApp()
app.query()(numpy_app.query_handler)


def hold_path(data: Path, phase: str, round_number: int) -> Path:
    return data.with_name(f"{data.name}.hold-{phase}-{round_number}")


def holding_path(data: Path, phase: str, round_number: int) -> Path:
    return data.with_name(f"{data.name}.holding-{phase}-{round_number}")


def _hold(msg: Message, context: Context, phase: str) -> None:
    data = Path(str(context.node_config["data-path"]))
    round_number = next(int(r["server-round"]) for r in msg.content.config_records.values() if "server-round" in r)
    hold = hold_path(data, phase, round_number)
    if not hold.exists():
        return
    holding_path(data, phase, round_number).touch()
    wait_until(lambda: not hold.exists(), timeout=HOLD_AT_MOST_SECONDS, interval=0.1, message=f"{hold} removed")


@app.train()
def train(msg: Message, context: Context) -> Message:
    _hold(msg, context, "train")
    return numpy_app.train_handler(msg, context)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    _hold(msg, context, "evaluate")
    return numpy_app.evaluate_handler(msg, context)
