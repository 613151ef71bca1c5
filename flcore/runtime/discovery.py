"""Learn which fedplane client each Flower node is.

A node's ``--node-config`` is visible only to its ClientApp (``context.node_config``);
the SuperLink's node list has ids, not configs. fedplane's ClientApp therefore
echoes its node config in a ``fedplane`` ConfigRecord in every reply, and answers a
QUERY message with it so the driver can map nodes before the first round.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flwr.app import Message, MessageType, RecordDict
from flwr.common.constant import ErrorCode

from .grid import FedplaneGrid
from .records import REPLY_INFO_KEY

__all__ = ["discover", "query_nodes", "reply_info"]


def reply_info(reply: Message) -> tuple[dict[str, Any] | None, float | None]:
    """(node config, handler seconds) a fedplane ClientApp put in ``reply``."""
    if reply.has_error() or REPLY_INFO_KEY not in reply.content.config_records:
        return None, None
    info = reply.content.config_records[REPLY_INFO_KEY]
    seconds = info.get("seconds")
    return json.loads(str(info["node-config"])), float(seconds) if seconds is not None else None  # type: ignore[arg-type]


def discover(
    grid: FedplaneGrid, node_ids: Iterable[int], timeout: float
) -> dict[int, dict[str, Any]]:
    """Ask ``node_ids`` for their node config. A node whose ClientApp cannot answer
    (not fedplane's) maps to ``{}``; one that did not answer in time is left out."""
    return query_nodes(grid, node_ids, timeout)[0]


def query_nodes(
    grid: FedplaneGrid, node_ids: Iterable[int], timeout: float
) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """``discover``, and the nodes that could not even load the run's ClientApp (their error
    replies, as ``Exchange.node_errors``): they will fail every message of the run."""
    messages = [Message(RecordDict(), node, MessageType.QUERY, ttl=timeout) for node in node_ids]
    exchange = grid.exchange(messages, timeout)
    # Stock flwr-clientapp replies CLIENT_APP_RAISED_EXCEPTION for an ImportError while loading.
    unloadable = [e for e in exchange.node_errors() if e["code"] == ErrorCode.LOAD_CLIENT_APP_EXCEPTION
                  or "ModuleNotFoundError" in e["reason"] or "ImportError" in e["reason"]]
    return {node: reply_info(reply)[0] or {} for node, reply in exchange.answered}, unloadable
