"""Start, stop and resume training executions."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from ..choices import ClientStatus, ExecutionStatus as S, Runtime
from ..errors import (ExecutionNotFound, InsufficientClients, InvalidTransition, ModelIncompatible,
                      PrivacyViolation, TrainingInProgress)
from ..models import AggregatedModel, FLClient, TrainingExecution
from .strategy_options import check_strategy
from .superlink import online_node_ids
from .transitions import transition

__all__ = ["execution_get", "execution_create", "execution_stop", "execution_resume", "dispatch_run",
           "available_clients", "deployment_capacity"]


def execution_get(execution_id, *, for_update: bool = False) -> TrainingExecution:
    qs = TrainingExecution.objects.select_for_update() if for_update else TrainingExecution.objects
    try:
        return qs.get(pk=execution_id)
    except (TrainingExecution.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise ExecutionNotFound(f"Execution {execution_id} not found.", details={"executionId": str(execution_id)})


def _available_client_rows():
    return FLClient.objects.exclude(status__in=(ClientStatus.OFFLINE, ClientStatus.REVOKED))


def available_clients() -> int:
    """Registered clients that are not offline (or revoked)."""
    return _available_client_rows().count()


def deployment_capacity() -> dict[str, int | None]:
    """How many clients an execution that names none can count on: registered clients that are not
    offline, plus SuperNodes connected to the SuperLink that no such client accounts for.

    A connected node whose id is an available client's `nodeId` is that client. Other connected nodes
    may still be available clients whose node id fedplane has not learnt yet (a SuperNode started by
    hand is paired with its record after its first reply; a restarted one has a new id), so only those
    beyond that many clients count: nobody is counted twice. `connectedNodes` is None when the
    SuperLink could not be asked; then registered clients alone count, as before.
    """
    node_ids = list(_available_client_rows().values_list("node_id", flat=True))
    registered = len(node_ids)
    online = online_node_ids()
    if online is None:
        return {"registeredClients": registered, "connectedNodes": None, "availableClients": registered}
    known = {int(n) for n in node_ids if n.isdigit()}
    unpaired_clients = registered - len(known & online)
    unclaimed_nodes = len(online - known)
    return {"registeredClients": registered, "connectedNodes": len(online),
            "availableClients": registered + max(0, unclaimed_nodes - unpaired_clients)}


def dispatch_run(execution: TrainingExecution) -> None:
    """Queue the Celery task that runs `execution`, once the current transaction commits."""
    from ..tasks import run_execution

    execution_id = str(execution.id)
    transaction.on_commit(lambda: run_execution.apply_async(args=[execution_id], queue=settings.FLCORE_QUEUE))


@transaction.atomic
def execution_create(*, user, model_type: str, algorithm: str, config: dict[str, Any],
                     privacy_config: dict[str, Any] | None = None,
                     aggregation_config: dict[str, Any] | None = None,
                     client_ids: list[str] | None = None, runtime: str = Runtime.DEPLOYMENT,
                     backend_config: dict[str, Any] | None = None) -> TrainingExecution:
    """Validate (against the registered clients, or a simulation's dataset), store the execution
    as queued, queue its run."""
    min_clients = int(config["minClients"])
    partitioning: dict[str, Any] = {}
    if runtime == Runtime.SIMULATION:
        config, partitioning = _simulation_config(config)
    else:
        _check_deployment_clients(min_clients, client_ids)
    _check_privacy(algorithm, privacy_config or {}, min_clients)
    _check_encryption(algorithm, privacy_config or {}, runtime)
    check_strategy(algorithm, config)
    execution = TrainingExecution.objects.create(
        model_type=model_type, algorithm=algorithm, config=config, privacy_config=privacy_config or {},
        aggregation_config=aggregation_config or {}, total_rounds=int(config["rounds"]), created_by=user,
        runtime=runtime, backend_config=backend_config or {}, data_partitioning=partitioning,
        queued_at=timezone.now())
    if (privacy_config or {}).get("homomorphicEncryption", {}).get("enabled"):
        from .encryption import he_keys_create
        he_keys_create(execution)  # before its run is queued: the worker reads the public context
    if client_ids:
        from .clients import client_assign
        for client_id in client_ids:
            client_assign(client_id=client_id, execution_id=execution.id, role="trainer", config={})
    from fedplane.events.services import emit
    emit("execution.created", {"executionId": str(execution.id), "algorithm": algorithm, "runtime": runtime,
                               "totalRounds": execution.total_rounds,
                               **({"numSupernodes": config["numSupernodes"]} if partitioning else {})})
    dispatch_run(execution)
    return execution


def _check_deployment_clients(min_clients: int, client_ids: list[str] | None) -> None:
    if not client_ids:  # every connected node may train: count them too
        if min_clients <= available_clients():
            return  # registered clients suffice: the SuperLink (a network call) need not be asked
        capacity = deployment_capacity()
        if min_clients > capacity["availableClients"]:
            connected = ("the SuperLink could not be asked for its connected SuperNodes"
                         if capacity["connectedNodes"] is None else
                         f"{capacity['connectedNodes']} SuperNode(s) are connected")
            raise InsufficientClients(
                f"minClients is {min_clients} but only {capacity['availableClients']} client(s) are available: "
                f"{capacity['registeredClients']} registered and not offline, and {connected}.",
                details={"minClients": min_clients, **capacity})
        return
    registered = available_clients()
    if min_clients > registered:
        raise InsufficientClients(
            f"minClients is {min_clients} but only {registered} client(s) are registered and not offline.",
            details={"minClients": min_clients, "registeredClients": registered})
    found = set(FLClient.objects.filter(pk__in=client_ids).values_list("pk", flat=True))
    missing = sorted(set(client_ids) - {str(pk) for pk in found})
    if missing:
        raise InsufficientClients("Some requested clients are not registered.", details={"missing": missing})
    if len(client_ids) < min_clients:
        raise InsufficientClients(f"{len(client_ids)} clients requested, minClients is {min_clients}.")


def _simulation_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config with the dataset's shape filled in, and the recorded split of its dataset."""
    from .datasets import DIGITS, partition_dataset

    config = {**config, "dataset": str(config.get("dataset") or DIGITS),
              "partitioning": {"method": "iid", "seed": 0, **(config.get("partitioning") or {})}}
    record = partition_dataset(ref=config["dataset"], count=int(config["numSupernodes"]),
                               partitioning=config["partitioning"])
    shape = {"inputDim": record["dataset"]["features"], "numClasses": record["dataset"]["classes"]}
    given = {k: config[k] for k in shape if k in config and config[k] != shape[k]}
    if given and not config.get("clientApp"):  # fedplane's model must fit the data; a custom app decides itself
        raise ModelIncompatible("inputDim and numClasses must match the dataset (or leave them out).",
                                details={"dataset": shape, "config": given})
    return {**shape, **config}, record


def _check_privacy(algorithm: str, privacy: dict[str, Any], min_clients: int) -> None:
    if privacy.get("secure_aggregation"):
        if privacy.get("differential_privacy"):
            raise PrivacyViolation("secure_aggregation with differential_privacy is not available: Flower 1.41 "
                                   "runs SecAgg+ on its legacy strategies and DP on its message strategies.",
                                   details={"secure_aggregation": True, "differential_privacy": True})
        if algorithm not in ("fedavg", "fedprox"):
            raise PrivacyViolation("secure_aggregation needs fedavg or fedprox: the server only ever sees the "
                                   "weighted mean of the updates.", details={"algorithm": algorithm})
        if min_clients < 3:
            raise PrivacyViolation("secure_aggregation needs minClients of at least 3: SecAgg+ shares each "
                                   "client's secrets among the others.", details={"minClients": min_clients})
    if privacy.get("differential_privacy") and algorithm not in ("fedavg", "fedprox"):
        raise PrivacyViolation("Differential privacy needs fedavg or fedprox: the noise is calibrated to the "
                               "plain mean of clipped updates, which a server optimiser, a median or a "
                               "selection would void.", details={"algorithm": algorithm})


def _check_encryption(algorithm: str, privacy: dict[str, Any], runtime: str) -> None:
    """Homomorphic encryption averages ciphertexts: only a weighted mean can be computed on them."""
    if not (privacy.get("homomorphicEncryption") or {}).get("enabled"):
        return
    refused = {"differential_privacy": "server-side differential privacy adds noise to, and clips, updates the "
                                       "server cannot read",
               "secure_aggregation": "SecAgg+ and homomorphic encryption both hide the updates; choose one"}
    for option, why in refused.items():
        if privacy.get(option):
            raise PrivacyViolation(f"homomorphicEncryption with {option} is not available: {why}.",
                                   details={"homomorphicEncryption": True, option: True})
    if algorithm not in ("fedavg", "fedprox"):
        raise PrivacyViolation("homomorphicEncryption needs fedavg or fedprox: the server can only add encrypted "
                               "updates and scale them by plaintext weights, not take a median, select or run "
                               "a server optimiser.", details={"algorithm": algorithm})
    if runtime != Runtime.DEPLOYMENT:
        raise PrivacyViolation("homomorphicEncryption needs runtime deployment: the secret key must stay on "
                               "the clients' machines.", details={"runtime": runtime})


@transaction.atomic
def execution_stop(*, execution_id, reason: str = "", save_checkpoint: bool = True) -> TrainingExecution:
    """A pending execution stops at once; a running one ends between rounds (the runner polls)."""
    execution = execution_get(execution_id, for_update=True)
    execution.stop_requested, execution.stop_reason = True, reason[:500]
    execution.save_checkpoint_on_stop = save_checkpoint
    fields = ("stop_requested", "stop_reason", "save_checkpoint_on_stop")
    if execution.status == S.QUEUED:
        transition(execution, S.STOPPED, data={"reason": reason}, save_fields=fields)
    elif execution.status == S.RUNNING:
        transition(execution, S.STOPPING, data={"reason": reason}, save_fields=fields)
    elif execution.status != S.STOPPING:
        raise InvalidTransition(f"Execution is {execution.status}; only pending or running ones can stop.",
                                details={"status": execution.status})
    return execution


@transaction.atomic
def execution_resume(*, execution_id, from_round: int | None = None,
                     adjust_config: dict[str, Any] | None = None) -> TrainingExecution:
    """Run again from round `from_round`'s checkpoint (default: the last one stored)."""
    execution = execution_get(execution_id, for_update=True)
    if execution.status not in (S.STOPPED, S.FAILED, S.COMPLETED):
        raise TrainingInProgress(f"Execution is {execution.status}; only stopped, failed or completed ones resume.",
                                 details={"status": execution.status})
    checkpoints = AggregatedModel.objects.filter(execution=execution)
    if from_round is None:
        last = checkpoints.order_by("-round_number").first()
        from_round = last.round_number if last else 0
    elif from_round > 0 and not checkpoints.filter(round_number=from_round).exists():
        raise ModelIncompatible(f"No checkpoint for round {from_round}.",
                                details={"available": list(checkpoints.values_list("round_number", flat=True))})
    config = {**execution.config, **(adjust_config or {})}
    if execution.runtime == Runtime.SIMULATION and int(config["minClients"]) > int(config["numSupernodes"]):
        raise InsufficientClients(f"minClients can be at most numSupernodes ({config['numSupernodes']}).",
                                  details={"minClients": config["minClients"],
                                           "numSupernodes": config["numSupernodes"]})
    if adjust_config:
        check_strategy(execution.algorithm, config)
    if int(config.get("rounds", execution.total_rounds)) <= from_round:
        raise InvalidTransition(f"Nothing to run: rounds is {config.get('rounds')} and from_round is {from_round}.")
    execution.config, execution.total_rounds = config, int(config["rounds"])
    execution.resume_from_round, execution.stop_requested, execution.stop_reason = from_round, False, ""
    execution.attempts = 0
    transition(execution, S.QUEUED, data={"fromRound": from_round},
               save_fields=("config", "total_rounds", "resume_from_round", "stop_requested", "stop_reason",
                            "attempts"))
    dispatch_run(execution)
    return execution
