"""Plain `flower-supernode` processes, started as a Flower user would and never registered with
fedplane, train an execution that names no clients: the start counts the SuperLink's connected nodes."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from flcore.models import FLClient
from flcore.runtime import SuperNodeProcess

from .conftest import wait_for_status

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]


class PlainSuperNode(SuperNodeProcess):
    """Flower's own `flower-supernode` executable (a `flwr-clientapp` process per message), not
    fedplane's launcher: the command the docs give a remote machine."""

    def command(self) -> list[str]:
        launcher = ["-m", "flcore.runtime.supernode_main"]
        argv = super().command()
        assert argv[1:3] == launcher, argv
        return [str(Path(sys.executable).with_name("flower-supernode")), *argv[3:]]


def test_three_unregistered_supernodes_start_and_complete_a_training(fl_http, fl_worker, fl_superlink, digits,
                                                                     live_logs):
    paths, _ = digits
    assert not FLClient.objects.exists()  # no client record: only the connected nodes can count
    nodes = [PlainSuperNode(fl_superlink.address, {"data-path": str(path)},
                            log_path=live_logs / f"plain-supernode-{i}-{os.getpid()}.log") for i, path in enumerate(paths)]
    try:
        for node in nodes:
            node.start()
        response = fl_http.post("/fl/executions", json={
            "algorithm": "fedavg", "config": {"rounds": 1, "minClients": 3, "localEpochs": 1, "inputDim": 64,
                                              "numClasses": 10, "roundTimeoutSeconds": 120,
                                              "connectTimeoutSeconds": 60}})
        assert response.status_code == 202, response.text
        final = wait_for_status(fl_http, response.json()["data"]["id"], timeout=400)
        assert final["status"] == "completed" and final["currentRound"] == 1, final
        updates = fl_http.get(f"/fl/executions/{final['id']}/rounds/1").json()["data"]["updates"]
        trained = {u["nodeId"] for u in updates if u["phase"] == "train" and not u["error"]}
        assert {str(node.node_id) for node in nodes} <= trained, updates
        assert not FLClient.objects.exists()
    finally:
        for node in nodes:
            node.stop()
