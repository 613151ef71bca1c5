"""Run one execution on Flower, inside a Celery task: claim, drive rounds, record, finish.

A task may run twice (acks_late redelivery, a sweep after a worker died): the claim
decides whether this call runs, resumes from the last checkpoint, or does nothing.
"""
from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from fedplane.events.services import emit

from .. import runtime
from ..choices import ClientStatus, ExecutionStatus as S, Runtime
from ..models import AggregatedModel, FLClient, TrainingExecution
from . import aggregation, checkpoints, training_plan
from .divergence import check_divergence
from .locks import superlink_lock
from .recording import record_round, record_round_failed, record_round_started
from .superlink import superlink_tls
from .transitions import transition

__all__ = ["Claim", "count_loss", "execution_run", "run_claimed", "finish", "holds_claim", "STALE_AFTER"]

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(seconds=settings.FLCORE_STALE_SECONDS)
HEARTBEAT_SECONDS = max(1.0, settings.FLCORE_STALE_SECONDS / 4)
_ACTIVE = (S.RUNNING, S.STOPPING)
# The claim (its task id) that run_claimed drives in this thread: what finish() ends by default.
_driven_claim: ContextVar[str | None] = ContextVar("flcore_driven_claim", default=None)


@dataclass
class Claim:
    execution: TrainingExecution
    from_round: int
    abandoned_run_id: str = ""  # the Flower run of a worker that died, to stop before starting anew


def _claim(execution_id: str, task_id: str, worker: str) -> Claim | None:
    with transaction.atomic():
        execution = TrainingExecution.objects.select_for_update().filter(pk=execution_id).first()
        if execution is None:
            return None
        now = timezone.now()
        fields = ("celery_task_id", "worker", "heartbeat_at", "attempts", "resume_from_round", "losses_in_a_row")
        abandoned = ""
        if execution.status == S.QUEUED:
            from_round = execution.resume_from_round or 0
            execution.losses_in_a_row = 0  # a new start (or a resume by a user): no loss counts yet
        elif execution.status in (S.RUNNING, S.STOPPING):
            stale = execution.heartbeat_at is None or now - execution.heartbeat_at > STALE_AFTER
            if execution.celery_task_id != task_id and not stale:
                return None  # alive elsewhere
            # The previous attempt died (redelivered task, or a sweep found it silent).
            from_round = checkpoints.last_round(execution)
            progressed = from_round > (execution.resume_from_round or 0)
            allowed, execution.losses_in_a_row = count_loss(
                execution.losses_in_a_row, progressed=progressed, max_attempts=settings.FLCORE_MAX_ATTEMPTS)
            if not allowed:
                execution.celery_task_id, execution.worker = task_id, worker
                transition(execution, S.FAILED, error_code="FL003",
                           error_message=f"Worker lost {execution.losses_in_a_row} time(s) in a row without a "
                                         f"round completing; giving up (FLCORE_MAX_ATTEMPTS="
                                         f"{settings.FLCORE_MAX_ATTEMPTS}).",
                           save_fields=("celery_task_id", "worker", "losses_in_a_row"))
                return None
            abandoned = execution.flower_run_id
            emit("execution.recovering", {"executionId": str(execution.id), "fromRound": from_round,
                                          "attempt": execution.attempts + 1}, severity="warning")
        else:
            return None  # finished or stopped: nothing to do
        execution.celery_task_id, execution.worker, execution.heartbeat_at = task_id, worker, now
        execution.attempts += 1
        execution.resume_from_round = from_round
        started = {"fromRound": from_round, "worker": worker,  # and how long it waited for a worker slot
                   "queuedSeconds": round((now - (execution.queued_at or now)).total_seconds(), 1)}
        if from_round:  # which checkpoint the run starts from (its digest is verified on load)
            started["initialModelSha256"] = (AggregatedModel.objects.filter(
                execution=execution, round_number=from_round).values_list("sha256", flat=True).first())
        transition(execution, S.RUNNING, data=started, save_fields=fields)
        return Claim(execution, from_round, abandoned)


def count_loss(losses_in_a_row: int, *, progressed: bool, max_attempts: int) -> tuple[bool, int]:
    """A worker was lost: whether a takeover is allowed, and the new count of losses in a row.

    ``progressed``: a round completed since the lost worker's claim, which resets the count. So
    ``max_attempts`` takeovers in a row without a completed round are allowed; the next loss fails.
    A worker lost once every 100 rounds never fails a long training.
    """
    count = 1 if progressed else losses_in_a_row + 1
    return count <= max_attempts, count


def _stop_abandoned_run(run_id: str) -> None:
    """Its SuperNodes would keep serving it until its token lapses (about a minute)."""
    try:
        runtime.stop_run(settings.FLOWER_SUPERLINK_ADDRESS, int(run_id), **superlink_tls())
    except Exception:  # already finished or unknown to this SuperLink: nothing left to free
        log.warning("could not stop abandoned Flower run %s", run_id, exc_info=True)


def holds_claim(execution_id, task_id: str) -> bool:
    """Whether the claim of task `task_id` still holds the execution: it runs, and no takeover
    (a sweep that found it silent) or resume has claimed it for another task since."""
    return TrainingExecution.objects.filter(pk=execution_id, celery_task_id=task_id, status__in=_ACTIVE).exists()


class _Heartbeat(threading.Thread):
    """Tells the sweep this execution is alive while the driver blocks on Flower (or while a
    simulation's process starts and runs). It beats for its own claim only: once another task
    holds the execution, a lost claim's heartbeat must not keep that one looking alive."""

    def __init__(self, execution_id, task_id: str) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{execution_id}")
        self.execution_id, self.task_id, self.stopped = execution_id, task_id, threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                try:
                    TrainingExecution.objects.filter(
                        pk=self.execution_id, celery_task_id=self.task_id, status__in=_ACTIVE,
                    ).update(heartbeat_at=timezone.now())
                except (OperationalError, InterfaceError):  # the database is restarting: beat again once it is back
                    log.warning("heartbeat of execution %s not written", self.execution_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()


def _release_clients(execution: TrainingExecution) -> None:
    FLClient.objects.filter(current_execution=execution, status=ClientStatus.TRAINING).update(
        status=ClientStatus.IDLE)


def finish(execution_id, to: str, *, error_code: str = "", error_message: str = "", error_details=None,
           data=None, owner: str | None = None) -> None:
    """End the execution, if the claim of task `owner` still holds it (default: the claim that
    run_claimed drives in this thread). A claim that was taken over ends nothing: the execution
    belongs to the task that took it over (or to a resume), which records its own end."""
    owner = owner or _driven_claim.get()
    with transaction.atomic():
        execution = TrainingExecution.objects.select_for_update().get(pk=execution_id)
        if owner is not None and execution.celery_task_id != owner:
            log.warning("execution %s is held by task %s now; task %s, which lost its claim, does not end it (%s)",
                        execution_id, execution.celery_task_id, owner, to)
            return
        if execution.status in _ACTIVE:
            transition(execution, to, error_code=error_code, error_message=error_message,
                       error_details=error_details, data=data)
        _release_clients(execution)


def execution_run(*, execution_id: str, task_id: str, worker: str) -> str | None:
    """Run (or resume) the execution; returns its final status, or None if not claimed.

    A simulation runs in a process of its own (simulation_process.py): Ray leaves threads
    behind in the process that ran it, and a Celery pool process must not have any when
    it exits.
    """
    claim = _claim(execution_id, task_id, worker)
    if claim is None:
        return None
    if claim.execution.runtime == Runtime.SIMULATION:
        from .simulation_process import run_in_own_process
        return run_in_own_process(str(claim.execution.pk), claim.from_round, task_id)
    return run_claimed(claim)


def run_claimed(claim: Claim) -> str:
    """Drive a claimed execution to its end, recording everything; its final status.

    Before every round, and before recording one, it checks that its claim still holds the
    execution; a claim that was taken over ends its run there and records nothing more.
    """
    execution = claim.execution
    owner = execution.celery_task_id
    heartbeat = _Heartbeat(execution.id, owner)
    heartbeat.start()
    driven = _driven_claim.set(owner)
    stop_reason: dict = {}
    plan: training_plan.TrainingPlan | None = None

    def lost_claim() -> bool:
        if stop_reason.get("by") == "lost" or not holds_claim(execution.id, owner):
            if stop_reason.get("by") != "lost":
                log.warning("execution %s: task %s lost its claim (taken over, or resumed); its run ends here",
                            execution.id, owner)
            stop_reason["by"] = "lost"
            return True
        return False

    def should_stop() -> bool:
        close_old_connections()
        if lost_claim():
            return True
        current = TrainingExecution.objects.only("stop_requested").get(pk=execution.id)
        if current.stop_requested:
            stop_reason["by"] = "user"
            return True
        if plan.ledger is not None and not plan.ledger.can_run_round():
            stop_reason["by"] = "privacy"
            return True
        return False

    def round_directive(round_number: int) -> runtime.RoundDirective | None:
        return aggregation.trigger_take(execution.id, round_number)

    def on_round(record: runtime.RoundRecord, accepted: bool) -> None:
        if lost_claim():  # the claim that holds the execution now records its rounds
            return
        try:
            check_divergence(execution.id, execution.config.get("divergence") or {}, record)
        except runtime.Diverged:
            record_round_failed(execution, record)  # its model is not kept: the last checkpoint stays the last good one
            raise
        privacy = plan.spend_privacy(record.round_number)
        artifact, state_path = checkpoints.save(execution, record, plan.strategy)
        record_round(execution, record, artifact=artifact, accepted=accepted, privacy=privacy,
                     state_path=state_path, model_spec=plan.model_spec)
        if plan.ledger is not None:
            TrainingExecution.objects.filter(pk=execution.id).update(privacy_ledger=plan.ledger.to_dict())

    def on_run_started(run_id: int) -> None:
        TrainingExecution.objects.filter(pk=execution.id).update(
            flower_run_id=str(run_id), superlink_address="" if plan.simulation else settings.FLOWER_SUPERLINK_ADDRESS)

    try:
        plan = training_plan.build(execution, from_round=claim.from_round)
        if claim.abandoned_run_id and not plan.simulation:
            _stop_abandoned_run(claim.abandoned_run_id)
        result = _launch(plan, dict(
            strategy=plan.strategy, initial_arrays=plan.initial_arrays, num_rounds=execution.total_rounds,
            run_config=plan.run_config, min_clients=execution.min_clients, round_offset=claim.from_round,
            client_ids=plan.client_ids, train_config=plan.train_config, clientapp=plan.clientapp, secure=plan.secure,
            encryption=plan.encryption,
            connect_timeout=plan.connect_timeout, round_timeout=plan.round_timeout,
            on_round=on_round, on_round_start=lambda n, nodes: record_round_started(execution.id, n, nodes),
            accept_round=plan.accept_round, should_stop=should_stop, round_directive=round_directive,
            round_settings=plan.round_settings, on_run_started=on_run_started,
            round_clients=(lambda _round: training_plan.assigned_trainers(execution.id))
            if plan.clients_follow_assignments else None))
    except runtime.SimulationUnavailable as exc:
        finish(execution.id, S.FAILED, error_code="FL003", error_message=f"Simulation unavailable: {exc}")
        return S.FAILED
    except runtime.InsufficientClients as exc:
        finish(execution.id, S.FAILED, error_code="FL002", error_message=str(exc))
        return S.FAILED
    except runtime.ClientAppFailed as exc:
        # The nodes answered with errors (the ClientApp cannot be loaded, raised, or its model does not
        # fit): not retryable, unlike FL005's silence.
        _record_partial(execution, exc)
        finish(execution.id, S.FAILED, error_code="FL006" if exc.incompatible else "FL003",
               error_message=str(exc)[:2000], error_details=exc.details())
        return S.FAILED
    except runtime.AggregationFailed as exc:
        # Too few valid updates, or the strategy refused them: the same clients would send the same again.
        _record_partial(execution, exc)
        finish(execution.id, S.FAILED, error_code="FL006" if exc.incompatible else "FL004",
               error_message=str(exc)[:2000], error_details=exc.details())
        return S.FAILED
    except runtime.Diverged as exc:
        finish(execution.id, S.FAILED, error_code="FL008", error_message=str(exc)[:2000], error_details=exc.details())
        return S.FAILED
    except runtime.ClientDisconnected as exc:
        _record_partial(execution, exc)
        finish(execution.id, S.FAILED, error_code="FL005", error_message=str(exc))
        return S.FAILED
    except runtime.SuperLinkInterrupted:
        # The SuperLink restarted mid-round and its messages in flight went with it. A cleared heartbeat
        # hands the execution over at the next sweep: a new Flower run from the last checkpoint.
        log.warning("execution %s interrupted by a SuperLink restart; it resumes from its last checkpoint",
                    execution.id, exc_info=True)
        heartbeat.stopped.set()
        heartbeat.join()
        TrainingExecution.objects.filter(pk=execution.id, celery_task_id=owner).update(heartbeat_at=None)
        return S.RUNNING
    except (OperationalError, InterfaceError):
        # The database went away (a restart, a failover): nothing can be recorded, not even a failure.
        # This claim ends and its heartbeat stops; once the database is back the sweep hands the
        # execution to a worker, which resumes it from its last checkpoint (FLCORE_MAX_ATTEMPTS bounds it).
        log.warning("execution %s interrupted by a database error; it resumes from its last checkpoint",
                    execution.id, exc_info=True)
        return S.RUNNING
    except Exception as exc:  # recorded on the execution and logged with its traceback, never lost
        log.exception("execution %s failed", execution.id)
        finish(execution.id, S.FAILED, error_code="FL003", error_message=f"{type(exc).__name__}: {exc}"[:2000])
        return S.FAILED
    finally:
        heartbeat.stopped.set()
        _driven_claim.reset(driven)
    if stop_reason.get("by") == "lost":
        return TrainingExecution.objects.values_list("status", flat=True).get(pk=execution.id)
    if result.status == "completed":
        finish(execution.id, S.COMPLETED, data={"finalMetrics": _final_metrics(execution.id)}, owner=owner)
        return S.COMPLETED
    if stop_reason.get("by") == "privacy":
        finish(execution.id, S.STOPPED, error_code="FL007",
                error_message="Stopped before the next round would exceed the privacy budget.",
                data={"privacy": plan.ledger.to_dict() if plan.ledger else None}, owner=owner)
    else:
        finish(execution.id, S.STOPPED, data={"lastRound": result.last_round}, owner=owner)
    return S.STOPPED


def _record_partial(execution: TrainingExecution, exc: runtime.ClientDisconnected | runtime.AggregationFailed) -> None:
    """A round that trained but failed to evaluate keeps its train updates."""
    if exc.partial is not None:
        record_round_failed(execution, exc.partial)


def _launch(plan: training_plan.TrainingPlan, loop: dict) -> runtime.ExecutionResult:
    """Drive the rounds on the deployment's SuperLink, or on Flower's Simulation Engine."""
    if plan.simulation:
        return runtime.run_simulation(
            num_supernodes=plan.num_supernodes, client_resources=plan.client_resources,
            ray_address=settings.RAY_ADDRESS, ray_connect_timeout=settings.FLCORE_RAY_CONNECT_TIMEOUT,
            local_cpus=settings.FLCORE_SIMULATION_CPUS,
            on_thread_exit=lambda: connection.close(),  # its own connection: the loop's callbacks ran in the engine's ServerApp thread
            on_cluster=lambda info: _simulation_started(plan, info), **loop)
    return runtime.run_execution(superlink=settings.FLOWER_SUPERLINK_ADDRESS, lock=superlink_lock,
                                 **superlink_tls(), **loop)


def _simulation_started(plan: training_plan.TrainingPlan, cluster: dict) -> None:
    with transaction.atomic():
        emit("execution.simulation_started", {"executionId": plan.execution_id, "numSupernodes": plan.num_supernodes,
                                              "clientResources": plan.client_resources, "cluster": cluster})


def _final_metrics(execution_id) -> dict:
    return TrainingExecution.objects.values_list("metrics", flat=True).get(pk=execution_id)

