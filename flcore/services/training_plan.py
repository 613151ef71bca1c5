"""Turn a stored execution into what the Flower driver needs: strategy, weights, configs, privacy."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from django.conf import settings

from ..choices import ClientRole, Runtime
from ..models import ClientAssignment, TrainingExecution
from ..runtime.records import RoundRecord, RoundSettings
from . import checkpoints
from .privacy_plan import apply_privacy, dp_enabled
from .strategy_options import strategy_kwargs

__all__ = ["TrainingPlan", "build", "assigned_trainers", "run_config_of", "run_config_from", "model_spec_of",
           "secure_aggregation_of", "round_settings_of"]


def model_spec_of(config: dict) -> dict[str, Any]:
    """fedplane's default model, as the ClientApp and the exporters build it."""
    return {"input-dim": int(config.get("inputDim", 64)), "num-classes": int(config.get("numClasses", 10)),
            "hidden-dim": int(config.get("hiddenDim", 64)), "seed": int(config.get("seed", 0))}


def run_config_of(execution: TrainingExecution) -> dict[str, Any]:
    return run_config_from(execution.config, execution.algorithm)


def run_config_from(config: dict, algorithm: str) -> dict[str, Any]:
    """The ClientApp's run config (model, local epochs, batch size, learning rate) of an execution's config."""
    run_config = {**model_spec_of(config), "local-epochs": int(config.get("localEpochs", 1)),
                  "batch-size": int(config.get("batchSize", 32)),
                  "learning-rate": float(config.get("learningRate", 0.05))}
    if algorithm == "fedprox":
        given = (config.get("strategyOptions") or {}).get("proximalMu", config.get("proximalMu"))
        run_config["proximal-mu"] = float(0.1 if given is None else given)
    return run_config


@dataclass
class TrainingPlan:
    execution_id: str
    strategy: Any
    initial_arrays: Any
    run_config: dict[str, Any]
    model_spec: dict[str, Any]
    train_config: dict[str, Any]
    client_ids: list[str] | None
    clientapp: str
    connect_timeout: float
    round_timeout: float
    ledger: Any = None
    secure: Any = None  # runtime.SecureAggregation when the execution asks for SecAgg+
    encryption: Any = None  # runtime.encrypted.Encryption (public CKKS context) under homomorphic encryption
    # Clients assigned or taken off while it runs count from the next round, unless the run samples
    # every node (nobody assigned) or DP's accounting fixed the population when it started.
    clients_follow_assignments: bool = False
    round_settings: Callable[[int], RoundSettings] = field(default=lambda _round: RoundSettings())
    # runtime "simulation": virtual clients on Flower's Simulation Engine
    simulation: bool = False
    num_supernodes: int = 0
    client_resources: dict[str, float] = field(default_factory=dict)
    _validation: Callable[[], dict] = field(default=lambda: {})

    def accept_round(self, record: RoundRecord) -> bool:
        """Validation with threshold: a round whose aggregated model scores worse is rejected."""
        rule = self._validation()
        if not rule.get("enabled") or rule.get("threshold") is None:
            return True
        threshold = float(rule["threshold"])
        metrics = record.evaluate_metrics
        for name in rule.get("metrics") or ["accuracy"]:
            value = metrics.get(f"eval-{name}", metrics.get(name))
            if value is None:
                continue
            if (name == "loss" and value > threshold) or (name != "loss" and value < threshold):
                return False
        return True

    def spend_privacy(self, round_number: int) -> dict | None:
        if self.ledger is None:
            return None
        self.ledger.spend()  # counts rounds actually run, whatever their number after a resume
        return self.ledger.to_dict()


def _validation_reader(execution_id) -> Callable[[], dict]:
    def read() -> dict:
        config = TrainingExecution.objects.values_list("aggregation_config", flat=True).get(pk=execution_id)
        return (config or {}).get("validation") or {}
    return read


def round_settings_of(config: dict, aggregation_config: dict) -> RoundSettings:
    """The round settings now in force: the start config, overridden by later configure calls."""
    live = {**config, **((aggregation_config or {}).get("roundSettings") or {})}
    responders = live.get("minResponders")
    return RoundSettings(timeout=float(live.get("roundTimeoutSeconds", 600)),
                         min_responders=int(responders) if responders else None,
                         accepted_failure_fraction=float(live.get("acceptedFailureFraction", 1.0)))


def _round_settings_reader(execution_id) -> Callable[[int], RoundSettings]:
    def read(_round: int) -> RoundSettings:
        config, aggregation = TrainingExecution.objects.values_list("config", "aggregation_config").get(
            pk=execution_id)
        return round_settings_of(config, aggregation)
    return read


def _client_resources(execution: TrainingExecution) -> dict[str, float]:
    """Flower's ``client_resources`` from the execution's camelCase backend config."""
    given = (execution.backend_config or {}).get("clientResources") or {}
    return {"num_cpus": float(given.get("numCpus", 1.0)), "num_gpus": float(given.get("numGpus", 0.0))}


def secure_aggregation_of(execution: TrainingExecution):
    """SecAgg+ settings of the execution, or None when it does not ask for them."""
    from ..runtime.secure import SecureAggregation

    privacy = execution.privacy_config or {}
    if not privacy.get("secure_aggregation"):
        return None
    return SecureAggregation(
        reconstruction_threshold=float(privacy.get("secureAggregationThreshold", 0.67)),
        max_weight=float(privacy.get("secureAggregationMaxWeight", 10_000.0)))


def assigned_trainers(execution_id) -> list[str]:
    return [str(c) for c in ClientAssignment.objects.filter(
        execution_id=execution_id, role=ClientRole.TRAINER).values_list("client_id", flat=True)]


def build(execution: TrainingExecution, *, from_round: int) -> TrainingPlan:
    from ..strategies.registry import build_strategy
    from ..strategies.state import restore_strategy_state

    config = execution.config
    run_config = run_config_of(execution)
    clients = assigned_trainers(execution.pk)
    aggregation = execution.aggregation_config or {}
    name, options = strategy_kwargs(aggregation.get("strategy", execution.algorithm), config)
    if name == "fedprox":  # the mu the clients are sent (FedProx's default 0.1 when none is given)
        options["proximal_mu"] = run_config.get("proximal-mu", options.get("proximal_mu", 0.1))
    strategy = build_strategy(
        name,
        options={"fraction_train": float(config.get("clientFraction", 1.0)),
                 "fraction_evaluate": float(config.get("clientFraction", 1.0)),
                 "min_train_nodes": execution.min_clients, "min_evaluate_nodes": execution.min_clients,
                 "min_available_nodes": execution.min_clients, **options},
        # DP's guarantee holds for the plain mean only (see flcore/privacy.py).
        weights="uniform" if dp_enabled(execution) else aggregation.get("weights", "proportional"),
        plugins=settings.FLCORE_STRATEGY_PLUGINS)
    strategy, ledger = apply_privacy(execution, strategy)
    secure = secure_aggregation_of(execution)
    from .encryption import encryption_of
    encryption = encryption_of(execution, run_config)
    if from_round > 0:
        initial_arrays, state = checkpoints.load(execution, from_round)
        if state:
            restore_strategy_state(strategy, state)
    else:
        from ..runtime.model import initial_arrays as fresh_arrays
        initial_arrays = fresh_arrays(run_config)
    simulation = execution.runtime == Runtime.SIMULATION
    if simulation:  # each virtual client reads partition-<its partition id>.npz from there
        from .datasets import materialize_partitions
        run_config["partition-dir"] = str(materialize_partitions(execution))
    return TrainingPlan(
        execution_id=str(execution.id), strategy=strategy, initial_arrays=initial_arrays, run_config=run_config,
        model_spec=model_spec_of(config), train_config={}, client_ids=clients or None,
        clientapp=config.get("clientApp") or ("flcore.runtime.app:secure_app" if secure else
                                              "flcore.runtime.he_app:app" if encryption else "flcore.runtime.app:app"),
        secure=secure, encryption=encryption,
        connect_timeout=float(config.get("connectTimeoutSeconds", 120)),
        round_timeout=float(config.get("roundTimeoutSeconds", 600)), ledger=ledger,
        clients_follow_assignments=bool(clients) and ledger is None,
        round_settings=_round_settings_reader(execution.id), simulation=simulation,
        num_supernodes=int(config.get("numSupernodes", 0)), client_resources=_client_resources(execution),
        _validation=_validation_reader(execution.id))
