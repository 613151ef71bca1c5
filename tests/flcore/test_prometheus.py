"""Federated learning in the Prometheus scrape: the round families a recorded round adds (by
strategy and runtime), and the per-execution gauges, given for a bounded set of executions."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from flcore.artifacts import round_path, save_arrays
from flcore.models import TrainingExecution, TrainingRound
from flcore.privacy import PrivacyLedger
from flcore.runtime.records import ClientUpdate as Reply
from flcore.runtime.records import RoundRecord, Straggler
from flcore.services.recording import record_round, record_round_failed
from tests.support.scrape import label_values, total

LABELS = {"strategy": "fedprox", "runtime": "deployment"}


def _reply(node: int, *, size: int = 1000, **extra) -> Reply:
    return Reply(node_id=node, node_config={}, num_examples=10, metrics={}, seconds=0.1, size_bytes=size, **extra)


def _record(round_number: int) -> RoundRecord:
    """Three nodes sampled: two updates aggregated, one rejected by screening; one more lost; two straggling."""
    return RoundRecord(
        run_id=1, round_number=round_number, node_ids=[1, 2, 3, 4],
        train=[_reply(1), _reply(2), _reply(3, size=500, rejection="NaN in 0.weight")],
        evaluate=[_reply(1, size=0), _reply(2, size=0)], arrays={"w": np.ones(3, np.float32)},
        train_metrics={}, evaluate_metrics={"eval-loss": 0.42, "eval-accuracy": 0.87}, lost_node_ids=[4],
        timings={"wait": 0.5, "train": 2.0, "aggregate": 0.25, "evaluate": 0.75, "total": 3.5},
        stragglers=[Straggler(2, "train", 3.0, 2.0, False), Straggler(4, "train", None, 9.0, True),
                    Straggler(4, "evaluate", None, 9.0, True)])


@pytest.mark.django_db(transaction=True)  # record_round commits: Prometheus counts on commit
def test_a_recorded_round_adds_to_the_round_families_by_strategy_and_runtime(client, settings, tmp_path):
    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path
    execution = TrainingExecution.objects.create(model_type="classification", algorithm="fedprox", total_rounds=3,
                                                 status="running", started_at=timezone.now())
    before = client.get("/metrics").content.decode()
    record = _record(1)
    artifact = save_arrays(tmp_path, round_path(execution.id, 1), record.arrays)
    record_round(execution, record, artifact=artifact, accepted=True, privacy=None, model_spec={})
    record_round_failed(execution, _record(2))  # its evaluation failed: counted, its updates too
    after = client.get("/metrics").content.decode()

    def added(name: str, **labels) -> float:
        return total(after, name, **LABELS, **labels) - total(before, name, **LABELS, **labels)

    assert added("fedplane_fl_rounds_total", outcome="accepted") == 1
    assert added("fedplane_fl_rounds_total", outcome="failed") == 1
    assert added("fedplane_fl_round_duration_seconds_count") == 1
    assert added("fedplane_fl_round_duration_seconds_sum") == pytest.approx(3.5)
    assert added("fedplane_fl_round_duration_seconds_bucket", le="5.0") == 1
    assert added("fedplane_fl_round_duration_seconds_bucket", le="2.5") == 0
    assert added("fedplane_fl_aggregation_seconds_sum") == pytest.approx(0.25)
    assert added("fedplane_fl_round_clients_sum", state="participating") == 2
    assert added("fedplane_fl_round_clients_sum", state="lost") == 1
    assert added("fedplane_fl_round_clients_sum", state="straggling") == 2
    assert added("fedplane_fl_updates_total", result="accepted") == 4
    assert added("fedplane_fl_updates_total", result="rejected") == 2
    assert added("fedplane_fl_update_bytes_total") == 2 * 2500

    # The execution's own gauges: its last round, evaluation loss and accuracy, clients.
    mine = {"execution": str(execution.id), **LABELS}
    assert total(after, "fedplane_fl_execution_round", **mine) == 1
    assert total(after, "fedplane_fl_execution_rounds_planned", **mine) == 3
    assert total(after, "fedplane_fl_execution_loss", **mine) == pytest.approx(0.42)
    assert total(after, "fedplane_fl_execution_accuracy", **mine) == pytest.approx(0.87)
    assert total(after, "fedplane_fl_execution_status", **mine, status="running") == 1
    assert {s: total(after, "fedplane_fl_execution_clients", **mine, state=s)
            for s in ("participating", "lost", "straggling")} == {"participating": 2, "lost": 1, "straggling": 2}


@pytest.mark.django_db
def test_per_execution_series_are_bounded_and_leave_with_their_execution(client, settings):
    settings.FLCORE_METRICS_EXECUTIONS, settings.FLCORE_METRICS_RECENT_SECONDS = 3, 600
    now = timezone.now()

    def execution(status: str, **extra) -> TrainingExecution:
        return TrainingExecution.objects.create(model_type="classification", total_rounds=5, status=status,
                                                metrics={"loss": 0.5, "accuracy": 0.8}, **extra)

    running = [execution("running", started_at=now - timedelta(minutes=m)) for m in (40, 30, 20, 10)]
    ledger = PrivacyLedger.plan(epsilon=4.0, delta=1e-5, rounds=5, sampling_rate=1.0)
    ledger.spend(1)
    ledger.spend(2)
    ended = execution("completed", algorithm="krum", completed_at=now - timedelta(minutes=5),
                      privacy_ledger=ledger.to_dict())
    long_ended = execution("failed", completed_at=now - timedelta(hours=2))
    queued = execution("queued", queued_at=now - timedelta(seconds=90))
    TrainingRound.objects.create(execution=running[-1], round_number=0, status="completed", lost_node_ids=["9"])

    text = client.get("/metrics").content.decode()
    shown = label_values(text, "fedplane_fl_execution_round", "execution")
    assert shown == {str(e.id) for e in running[1:]}  # the cap: running ones first, newest first

    settings.FLCORE_METRICS_EXECUTIONS = 20
    text = client.get("/metrics").content.decode()
    for name in ("fedplane_fl_execution_round", "fedplane_fl_execution_loss", "fedplane_fl_execution_status"):
        assert label_values(text, name, "execution") == {str(e.id) for e in [*running, ended]}, name
    assert str(long_ended.id) not in text and str(queued.id) not in text
    krum = {"execution": str(ended.id), "strategy": "krum", "runtime": "deployment"}
    assert total(text, "fedplane_fl_execution_epsilon_budget", **krum) == 4.0
    assert total(text, "fedplane_fl_execution_epsilon_spent", **krum) == pytest.approx(ledger.epsilon_spent)
    assert 0 < ledger.epsilon_spent < 4.0
    assert label_values(text, "fedplane_fl_execution_epsilon_spent", "execution") == {str(ended.id)}
    assert total(text, "fedplane_fl_execution_clients", execution=str(running[-1].id), state="lost") == 1

    assert total(text, "fedplane_fl_executions", status="running") == 4
    assert total(text, "fedplane_fl_executions", status="stopping") == 0
    assert total(text, "fedplane_fl_queue_depth") == 1
    assert 85 <= total(text, "fedplane_fl_queue_oldest_seconds") < 300


@pytest.mark.django_db
def test_an_unknown_strategy_name_is_one_label_value(client, settings):
    """A strategy that is neither built in nor a configured plug-in cannot add label values."""
    settings.FLCORE_STRATEGY_PLUGINS = {"mine": "pkg.module:Mine"}
    TrainingExecution.objects.create(model_type="classification", total_rounds=1, status="running",
                                     algorithm="made-up-by-a-row")
    TrainingExecution.objects.create(model_type="classification", total_rounds=1, status="running",
                                     algorithm="mine")
    text = client.get("/metrics").content.decode()
    assert label_values(text, "fedplane_fl_execution_round", "strategy") == {"other", "mine"}


@pytest.mark.live
@pytest.mark.flower
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(600)
def test_a_training_the_worker_runs_is_in_the_scrape_of_the_web_process(fl_server_url, fl_http, fl_worker,
                                                                        join_clients, digits):
    """Multi-process mode for real: the Celery worker records the rounds, the ASGI server's /metrics shows them."""
    import httpx

    from .conftest import start_execution, wait_for_status

    clients = join_clients(digits[0])
    before = httpx.get(f"{fl_server_url}/metrics", timeout=10).text
    execution = start_execution(fl_http, clients, rounds=2, localEpochs=1)
    final = wait_for_status(fl_http, execution["id"], timeout=300)
    assert final["status"] == "completed", final
    after = httpx.get(f"{fl_server_url}/metrics", timeout=10).text
    fedavg = {"strategy": "fedavg", "runtime": "deployment"}

    def added(name: str, **labels) -> float:
        return total(after, name, **fedavg, **labels) - total(before, name, **fedavg, **labels)

    assert added("fedplane_fl_rounds_total", outcome="accepted") == 2
    assert added("fedplane_fl_round_duration_seconds_count") == 2
    assert added("fedplane_fl_round_duration_seconds_sum") > 0
    assert added("fedplane_fl_aggregation_seconds_count") == 2
    assert added("fedplane_fl_round_clients_sum", state="participating") == 2 * len(clients)
    assert added("fedplane_fl_round_clients_count", state="lost") == 2
    assert added("fedplane_fl_updates_total", result="accepted") == 2 * len(clients)
    assert added("fedplane_fl_update_bytes_total") > 2 * len(clients) * 64 * 64 * 4  # the MLP's first layer alone
    mine = {"execution": execution["id"], **fedavg}
    assert total(after, "fedplane_fl_execution_round", **mine) == 2
    assert total(after, "fedplane_fl_execution_status", **mine, status="completed") == 1
    assert total(after, "fedplane_fl_execution_loss", **mine) == pytest.approx(final["metrics"]["loss"])
    assert total(after, "fedplane_fl_execution_accuracy", **mine) == pytest.approx(final["metrics"]["accuracy"])
    assert total(after, "fedplane_fl_execution_clients", **mine, state="participating") == len(clients)
