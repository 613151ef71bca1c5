"""A finished round is stored with bulk statements: a round of 50 clients costs the database
as many statements as a round of 5 (client updates, node ids, events and their sequencing)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fedplane.events.models import Event
from flcore.artifacts import round_path, save_arrays
from flcore.models import ClientUpdate, FLClient, TrainingExecution, TrainingRound
from flcore.runtime.records import ClientUpdate as Reply
from flcore.runtime.records import RoundRecord, RoundSettings, Straggler
from flcore.services.recording import record_round

# transaction=True: record_round commits for real, so the on-commit work (numbering and
# publishing the events) runs inside the measured block, as it does in the worker.
pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Round:
    execution: TrainingExecution
    record: RoundRecord
    replying: list[FLClient]  # in node order: replying[i] answered from node base + i
    lost: list[FLClient]
    base: int


def _round(size: int, artifact_root) -> Round:
    """`size` clients reply to train and evaluate; a fifth as many more were sampled and lost.

    A third of the replying clients come back under a new node id (a SuperNode restarted),
    a third are seen for the first time, the rest keep theirs.
    """
    base = size * 1_000_000  # node ids of different rounds never overlap
    execution = TrainingExecution.objects.create(model_type="classification", total_rounds=1)
    earlier_node_id = {0: lambda i: str(base + 500_000 + i), 1: lambda i: "", 2: lambda i: str(base + i)}
    replying = FLClient.objects.bulk_create([
        FLClient(name=f"r{size}-{i}", node_id=earlier_node_id[i % 3](i)) for i in range(size)])
    lost = FLClient.objects.bulk_create([
        FLClient(name=f"l{size}-{j}", node_id=str(base + 900_000 + j)) for j in range(max(1, size // 5))])

    def reply(i: int, client: FLClient, phase: str) -> Reply:
        metrics = {"train-loss": 0.5 + i / 1000} if phase == "train" else {"eval-accuracy": 0.8}
        return Reply(node_id=base + i, node_config={"fedplane-client-id": str(client.pk), "partition-id": i},
                     num_examples=100 + i, metrics=metrics, seconds=0.1)

    arrays = {"0.weight": np.ones((4, 3), np.float32), "0.bias": np.zeros(4, np.float32)}
    lost_ids = [int(c.node_id) for c in lost]
    record = RoundRecord(
        run_id=7, round_number=1, node_ids=[base + i for i in range(size)] + lost_ids,
        train=[reply(i, c, "train") for i, c in enumerate(replying)],
        evaluate=[reply(i, c, "evaluate") for i, c in enumerate(replying)],
        arrays=arrays, train_metrics={"train-loss": 0.5}, evaluate_metrics={"eval-accuracy": 0.8},
        lost_node_ids=lost_ids, timings={"train": 1.0, "evaluate": 0.5},
        stragglers=[Straggler(node_id=base + 1, phase="train", seconds=4.0, late_by_seconds=3.5, timed_out=False),
                    Straggler(node_id=lost_ids[0], phase="train", seconds=None, late_by_seconds=30.0,
                              timed_out=True)],
        settings=RoundSettings(timeout=30.0, min_responders=2, accepted_failure_fraction=0.25))
    return Round(execution, record, replying, lost, base)


def _record(round_: Round, artifact_root) -> int:
    """Store the round; returns how many statements that took, its on-commit work included."""
    artifact = save_arrays(artifact_root, round_path(round_.execution.id, 1), round_.record.arrays)
    with CaptureQueriesContext(connection) as queries:
        record_round(round_.execution, round_.record, artifact=artifact, accepted=True, privacy=None,
                     model_spec={"input-dim": 3, "num-classes": 4})
    return len(queries.captured_queries)


def _assert_everything_stored(round_: Round) -> None:
    size = len(round_.replying)
    stored = TrainingRound.objects.get(execution=round_.execution, round_number=1)
    for phase in ("train", "evaluate"):
        updates = ClientUpdate.objects.filter(round=stored, phase=phase).order_by("partition_id")
        assert [(u.client_id, u.node_id, u.partition_id, u.num_examples) for u in updates] == [
            (c.pk, str(round_.base + i), i, 100 + i) for i, c in enumerate(round_.replying)]

    events = list(Event.objects.filter(data__executionId=str(round_.execution.id)).order_by("position"))
    assert all(e.position is not None for e in events)  # numbered in commit order, as single events are
    assert [e.type for e in events] == (["client.update_received"] * size + ["client.left"] * len(round_.lost)
                                        + ["model.aggregated", "round.completed", "metrics.updated"])
    received = [e.data for e in events if e.type == "client.update_received"]
    assert [(d["clientId"], d["nodeId"], d["numExamples"]) for d in received] == [
        (str(c.pk), str(round_.base + i), 100 + i) for i, c in enumerate(round_.replying)]
    left = [e for e in events if e.type == "client.left"]
    assert [(e.data["clientId"], e.severity) for e in left] == [(str(c.pk), "warning") for c in round_.lost]

    # Every replying client now carries the node id it answered from; lost ones keep theirs.
    node_ids = dict(FLClient.objects.filter(pk__in=[c.pk for c in round_.replying + round_.lost])
                    .values_list("pk", "node_id"))
    assert [node_ids[c.pk] for c in round_.replying] == [str(round_.base + i) for i in range(size)]
    assert [node_ids[c.pk] for c in round_.lost] == [c.node_id for c in round_.lost]

    assert stored.settings == {"roundTimeoutSeconds": 30.0, "minResponders": 2, "acceptedFailureFraction": 0.25}
    assert stored.stragglers == [
        {"nodeId": str(round_.base + 1), "clientId": str(round_.replying[1].pk), "partitionId": 1,
         "phase": "train", "seconds": 4.0, "lateBySeconds": 3.5, "timedOut": False},
        {"nodeId": round_.lost[0].node_id, "clientId": str(round_.lost[0].pk), "partitionId": None,
         "phase": "train", "seconds": None, "lateBySeconds": 30.0, "timedOut": True}]


def test_a_round_of_50_clients_takes_as_many_statements_as_a_round_of_5(settings, tmp_path):
    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path
    small, large = _round(5, tmp_path), _round(50, tmp_path)
    small_count = _record(small, tmp_path)
    large_count = _record(large, tmp_path)
    assert small_count == large_count, f"5 clients: {small_count} statements, 50 clients: {large_count}"
    _assert_everything_stored(small)
    _assert_everything_stored(large)


def test_a_round_without_settings_or_stragglers_stores_empty_ones(settings, tmp_path):
    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path
    round_ = _round(2, tmp_path)
    round_.record.settings, round_.record.stragglers = None, []
    _record(round_, tmp_path)
    stored = TrainingRound.objects.get(execution=round_.execution)
    assert stored.settings == {} and stored.stragglers == []
