"""The main job's tour after the training: everything a user does next, through the REST API.

The aggregated model becomes a registry version, is replicated with verified digests to a
second region and answers predictions there; a demo shell with one remote is registered
and its runtime configuration read back, as a real shell would at start-up.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import httpx
import numpy as np

__all__ = ["TourError", "regions_ensure", "model_promote_and_replicate", "predict_compare", "failover_and_back",
           "demo_shell_register"]

HOME, REPLICA = "eu-west-1", "us-east-1"
MODEL = "digits-mlp"


class TourError(RuntimeError):
    pass


def _data(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise TourError(f"{response.request.method} {response.request.url.path}: "
                        f"{response.status_code} {response.text[:500]}")
    return response.json()["data"]


def regions_ensure(api: httpx.Client, store_root: Path) -> None:
    """Two regions served in-process (no endpoint), each with a folder as its artifact store."""
    for name, compute in ((HOME, "0.00004"), (REPLICA, "0.00003")):
        existing = api.get(f"/regions/{name}")
        if existing.status_code == 200:
            continue
        _data(api.post("/regions", json={
            "name": name, "store_url": (store_root / name).as_uri(),
            "price_card": {"currency": "USD", "compute_second": compute, "storage_gb_month": "0.023",
                           "network_gb": "0.02", "training_second": "0.0001"}}), 201)


def model_promote_and_replicate(api: httpx.Client, aggregated_model_id: str, version: str,
                                timeout: float = 120) -> dict:
    """Promote into the home region, replicate to the other; return the replication status."""
    if api.get(f"/models/{MODEL}").status_code == 404:
        _data(api.post("/models", json={"model_id": MODEL, "description": "digits MLP trained by fedplane"}), 201)
    promoted = _data(api.post(f"/models/{MODEL}/versions/promote", json={
        "version": version, "aggregated_model_id": aggregated_model_id, "region": HOME}), 201)
    job = _data(api.post("/replication/models", json={
        "model_id": MODEL, "version": promoted["version"], "source_region": HOME,
        "target_regions": [REPLICA], "verify_checksum": True}), 202)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _data(api.get(f"/replication/{job['replication_id']}/status"), 200)
        if status["status"] != "in_progress":
            if status["status"] != "completed":
                raise TourError(f"replication ended {status['status']}: {status}")
            return {"version": promoted, "replication": status}
        time.sleep(0.5)
    raise TourError("replication did not finish in time")


def predict_compare(api: httpx.Client, x: np.ndarray, local: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Predict through the API and check the answers equal the model called here."""
    answer = _data(api.post(f"/models/{MODEL}/predict", json={"inputs": x.tolist()}), 200)
    served = np.asarray(answer["predictions"], dtype=np.float32)
    expected = local(x)
    if served.shape != expected.shape or not np.allclose(served, expected, atol=1e-5):
        raise TourError("predictions through the API differ from the model called in-process")
    return answer


def _poll(api: httpx.Client, path: str, done: Callable[[dict], bool], timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _data(api.get(path), 200)
        if done(body):
            return body
        time.sleep(0.3)
    raise TourError(f"{what} did not finish in time")


def failover_and_back(api: httpx.Client, predict: Callable[[], dict], timeout: float = 60) -> dict:
    """Fail the home region over to the replica, predict there, then roll the failover back."""
    started = _data(api.post("/failover", json={"from_region": HOME, "to_region": REPLICA, "reason": "tour",
                                                "drain_timeout_seconds": 5}), 202)
    path = f"/failover/{started['failover_id']}"
    moved = _poll(api, path, lambda f: f["status"] != "in_progress", timeout, "failover")
    if moved["status"] != "completed":
        raise TourError(f"failover ended {moved['status']}")
    answer = predict()
    _data(api.post(f"{path}/rollback"), 200)
    return {"failover": moved, "answer": answer}


def demo_shell_register(api: httpx.Client) -> dict:
    """A React shell with one remote that shows the digits model; returns its runtime config."""
    shells = _data(api.get("/federation/applications", params={"search": "digits_shell"}), 200)
    shell = next((a for a in shells if a["name"] == "digits_shell"), None)
    if shell is None:
        shell = _data(api.post("/federation/applications", json={
            "name": "digits_shell", "host": "http://localhost:3000", "version": "1.0.0", "framework": "react",
            "dependencies": {"react": "^18.2.0", "react-dom": "^18.2.0"}}), 201)
        _data(api.post("/federation/modules", json={
            "name": "digits_predictor", "url": "http://localhost:3001/remoteEntry.js", "version": "1.0.0",
            "applicationId": shell["id"], "exposedModules": ["./DigitsPredictor"],
            "dependencies": {"react": "^18.2.0"}}), 201)
    return _data(api.get(f"/federation/runtime/{shell['id']}"), 200)
