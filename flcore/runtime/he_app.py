"""The numpy ClientApp for homomorphic-encryption executions: it decrypts, trains, encrypts.

Same model, data and metrics as ``numpy_app``; the global model arrives as CKKS ciphertext
chunks and the update leaves as ciphertext chunks (``flcore.he``). The secret context never
travels through Flower: the node reads it from ``<he-context-dir>/<he-context-id>.tenseal``
(node config ``he-context-dir``; default ``fedplane-he`` beside its data file). When that file
is missing and the node was started by ``fedplane-client join`` (``FEDPLANE_API_URL`` and
``FEDPLANE_API_KEY`` in its environment), it fetches it once from the platform's
``GET /fl/executions/{id}/he-context`` (its client must be assigned) and keeps it, mode 0600.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from .. import he
from ..files import write_whole
from . import numpy_app

__all__ = ["app", "context_path", "secret_context"]

app = ClientApp()
_contexts: dict[str, Any] = {}  # context id -> loaded secret context (the executor is long-lived)
_lock = threading.Lock()


def context_path(node_config: Mapping[str, Any], context_id: str) -> Path:
    """Where this node keeps the secret context ``context_id``."""
    base = node_config.get("he-context-dir")
    if base is None:
        base = Path(str(node_config["data-path"])).resolve().parent / "fedplane-he"
    return Path(str(base)) / f"{Path(context_id).name}.tenseal"  # an id, never a path


def _fetch(path: Path, context_id: str) -> None:
    url, key = os.environ.get("FEDPLANE_API_URL"), os.environ.get("FEDPLANE_API_KEY")
    if not url or not key:
        raise FileNotFoundError(f"no secret context at {path}, and no FEDPLANE_API_URL/FEDPLANE_API_KEY "
                                f"to fetch it (GET /api/v1/fl/executions/{context_id}/he-context)")
    response = httpx.get(f"{url.rstrip('/')}/api/v1/fl/executions/{context_id}/he-context",
                         headers={"X-API-Key": key}, timeout=30)
    if response.status_code != 200:
        raise PermissionError(f"he-context for execution {context_id}: HTTP {response.status_code} {response.text[:300]}")
    write_whole(path, response.content, 0o600)


def secret_context(node_config: Mapping[str, Any], context_id: str):
    """The secret context of ``context_id``: from memory, the node's file, or the platform."""
    with _lock:
        if context_id not in _contexts:
            path = context_path(node_config, context_id)
            if not path.exists():
                _fetch(path, context_id)
            context = he.load_context(path.read_bytes())
            if not context.is_private():
                raise ValueError(f"{path} holds no secret key")
            _contexts[context_id] = context
        return _contexts[context_id]


def _decrypted(msg: Message, context: Context, config: Mapping[str, Any]) -> tuple[Any, he.Layout, dict]:
    ctx = secret_context(context.node_config, str(config["he-context-id"]))
    layout = he.Layout.from_json(str(config["he-layout"]))
    chunks = {name: array.numpy() for name, array in next(iter(msg.content.array_records.values())).items()}
    return ctx, layout, he.decrypt(ctx, chunks, layout)


def _decrypted_weights(msg: Message, context: Context, config: Mapping[str, Any]) -> dict:
    return _decrypted(msg, context, config)[2]


def _encrypted(params: dict, context: Context, config: Mapping[str, Any]) -> dict:
    ctx = secret_context(context.node_config, str(config["he-context-id"]))
    return he.encrypt(ctx, params, he.Layout.from_json(str(config["he-layout"])))


@app.train()
def train_handler(msg: Message, context: Context) -> Message:
    """Decrypt the global model, train on local data, reply with the new weights encrypted."""
    return numpy_app.train_reply(msg, context, _decrypted_weights, _encrypted)


@app.evaluate()
def evaluate_handler(msg: Message, context: Context) -> Message:
    """Decrypt the global model and evaluate it on the local held-out rows."""
    return numpy_app.evaluate_reply(msg, context, _decrypted_weights)


app.query()(numpy_app.query_handler)
