"""What fedplane's ClientApps share (torch-free): the config a handler works with, and the
``fedplane`` record every reply carries so the driver can attribute and time it."""

from __future__ import annotations

import json
import time
from typing import Any

from flwr.app import ConfigRecord, Context, Message

__all__ = ["handler_config", "info_record"]


def handler_config(msg: Message, context: Context) -> dict[str, Any]:
    """Run config overlaid with the round's message config (e.g. FedProx's mu)."""
    merged: dict[str, Any] = dict(context.run_config)
    for record in msg.content.config_records.values():
        merged.update(record)
    return merged


def info_record(context: Context, started: float) -> ConfigRecord:
    """The node's config and the handler's duration (``REPLY_INFO_KEY`` in a reply)."""
    return ConfigRecord({"node-config": json.dumps(dict(context.node_config)),
                         "seconds": time.monotonic() - started})
