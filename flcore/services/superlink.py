"""How this deployment reaches its Flower SuperLink's APIs: address and TLS, from settings."""
from __future__ import annotations

import logging
from typing import Any

import httpx
from django.conf import settings

from ..runtime.control import list_nodes

__all__ = ["superlink_tls", "online_node_ids"]

log = logging.getLogger(__name__)

# An API request waits at most this long for the SuperLink's node list.
NODE_LIST_TIMEOUT = 5.0


def superlink_tls() -> dict[str, Any]:
    """`insecure` and `root_certificates` keyword arguments for flcore.runtime's calls."""
    path = settings.FLOWER_ROOT_CERTIFICATES
    if not path:
        return {"insecure": True, "root_certificates": None}
    with open(path, "rb") as ca:
        return {"insecure": False, "root_certificates": ca.read()}


def online_node_ids() -> set[int] | None:
    """Ids of the SuperNodes connected to the SuperLink now (its LinkState's "online" nodes),
    or None when the SuperLink cannot be asked (down, unreachable, refusing)."""
    try:
        nodes = list_nodes(settings.FLOWER_SUPERLINK_ADDRESS, timeout=NODE_LIST_TIMEOUT, **superlink_tls())
    except (httpx.HTTPError, OSError) as exc:
        log.warning("SuperLink %s did not list its nodes: %s: %s", settings.FLOWER_SUPERLINK_ADDRESS,
                    type(exc).__name__, exc)
        return None
    return {int(node.node_id) for node in nodes if node.status == "online"}
