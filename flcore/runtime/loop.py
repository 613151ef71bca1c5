"""The round loop every fedplane run goes through, whatever engine carries its messages.

``RoundLoop`` holds an execution's strategy, model and callbacks and drives rounds on
any ``Driver``: a claimed run on a SuperLink (``run_execution``) or the ServerApp side
of Flower's Simulation Engine (``run_simulation``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.common.constant import SubStatus
from flwr.serverapp.strategy import Strategy

from .errors import RunStopped
from .fab import DEFAULT_CLIENTAPP
from .heartbeat import is_stop_status
from .records import ExecutionResult, RoundDirective, RoundRecord, RoundSettings
from .rounds import Driver, run_round
from .secure import SecureAggregation, run_secure_round

if TYPE_CHECKING:
    from .encrypted import Encryption

__all__ = ["Arrays", "RoundLoop"]

Arrays = ArrayRecord | Mapping[str, np.ndarray]
_SAMPLING = ("fraction_train", "fraction_evaluate", "min_train_nodes", "min_evaluate_nodes",
             "min_available_nodes")


@contextmanager
def _directed(
    driver: Driver, strategy: Strategy, directive: RoundDirective | None, settings: RoundSettings
) -> Iterator[RoundSettings]:
    """Apply ``directive`` to one round; yields the round's settings under it.

    The directive's clients are all sampled (fractions 1.0) and the strategy's own
    minimums give way to the directive's, then everything is put back.
    """
    if directive is None:
        yield settings
        return
    ids = directive.client_ids
    required = (len(ids) if ids else settings.min_responders or 1) if directive.wait_for_all else 1
    saved_clients = driver.client_ids
    saved = {name: getattr(strategy, name) for name in _SAMPLING if hasattr(strategy, name)}
    try:
        if ids:
            driver.client_ids = set(ids)
        for name in saved:
            setattr(strategy, name, 1.0 if name.startswith("fraction") else required)
        yield replace(settings, min_responders=required,
                      accepted_failure_fraction=0.0 if directive.wait_for_all else 1.0)
    finally:
        driver.client_ids = saved_clients
        for name, value in saved.items():
            setattr(strategy, name, value)


@dataclass
class RoundLoop:  # pylint: disable=too-many-instance-attributes
    """Rounds ``round_offset + 1`` .. ``num_rounds`` of one run, with fedplane's callbacks.

    Callbacks, all in the driving process: ``on_run_started(run_id)`` once the run is
    claimed; ``on_round_start(round, node_ids)`` after sampling; after each round
    ``accept_round(record)`` (False: the next round starts again from the previous
    global model, e.g. it failed validation) then ``on_round(record, accepted)``;
    ``should_stop()`` before every round; ``round_directive(round)`` just before it
    starts (a manual trigger: which clients, wait for all); ``round_clients(round)``
    just before it too: the fedplane clients it may sample, so clients assigned or
    taken off while the run goes on count from the next round; ``round_settings(round)``
    likewise: timeout, minimum responders and accepted failure fraction, which an
    operator may change while the run goes on (default: ``round_timeout`` and
    ``min_clients``, any failure accepted while enough replied).

    With ``secure``, training runs SecAgg+ (the ClientApp must use ``secaggplus_mod``,
    e.g. ``flcore.runtime.app:secure_app``): the server never sees a client's update.
    With ``encryption`` (CKKS, ``flcore.runtime.encrypted``) the global model and the updates
    are ciphertexts (ClientApp ``flcore.runtime.he_app:app``): the server never sees either,
    and the arrays it records and returns are ciphertext chunks.

    Resume from checkpoint N with ``round_offset=N`` and that checkpoint's arrays (and
    a strategy object restored with its optimiser state, for the FedOpt family).
    """

    strategy: Strategy
    initial_arrays: Arrays
    num_rounds: int
    run_config: Mapping[str, Any]
    min_clients: int = 1
    on_round: Callable[[RoundRecord, bool], None] | None = None
    should_stop: Callable[[], bool] | None = None
    accept_round: Callable[[RoundRecord], bool] | None = None
    on_round_start: Callable[[int, list[int]], None] | None = None
    on_run_started: Callable[[int], None] | None = None
    round_directive: Callable[[int], RoundDirective | None] | None = None
    round_clients: Callable[[int], Collection[str]] | None = None
    round_settings: Callable[[int], RoundSettings] | None = None
    round_offset: int = 0
    node_ids: Collection[int] | None = None
    client_ids: Collection[str] | None = None
    train_config: Mapping[str, Any] | None = None
    evaluate_config: Mapping[str, Any] | None = None
    clientapp: str = DEFAULT_CLIENTAPP
    secure: SecureAggregation | None = None
    encryption: Encryption | None = None
    connect_timeout: float = 120.0
    round_timeout: float = 600.0

    def arrays(self) -> ArrayRecord:
        """The initial global model as an ArrayRecord."""
        if isinstance(self.initial_arrays, ArrayRecord):
            return self.initial_arrays
        return ArrayRecord(
            {k: Array.from_numpy_ndarray(np.asarray(v)) for k, v in self.initial_arrays.items()}
        )

    def settings_for(self, round_number: int) -> RoundSettings:
        settings = (self.round_settings(round_number) if self.round_settings is not None
                    else RoundSettings(timeout=self.round_timeout))
        return settings if settings.min_responders else replace(settings, min_responders=self.min_clients)

    def run(self, driver: Driver) -> ExecutionResult:
        """Drive the rounds on ``driver`` (already claimed) until done, stopped or failed."""
        arrays = self.arrays()
        if self.encryption is not None:
            arrays = self.encryption.prepare(arrays)
        rounds: list[RoundRecord] = []
        status: Literal["completed", "stopped"] = "completed"
        if self.on_run_started is not None:
            self.on_run_started(driver.run_id)
        try:
            for round_number in range(self.round_offset + 1, self.num_rounds + 1):
                if self.should_stop is not None and self.should_stop():
                    status = "stopped"
                    driver.finish(SubStatus.STOPPED, "stopped by fedplane")
                    break
                arrays, record, accepted = self._round(driver, round_number, arrays)
                rounds.append(record)
                if self.on_round is not None:
                    self.on_round(record, accepted)
        except (RunStopped, httpx.HTTPStatusError) as err:
            if not isinstance(err, RunStopped) and not is_stop_status(err):
                raise
            status = "stopped"  # stopped through the Control API (token revoked)
            driver.finish(SubStatus.STOPPED)
        last = rounds[-1].round_number if rounds else self.round_offset
        return ExecutionResult(
            run_id=driver.run_id,
            status=status,
            last_round=last,
            arrays={key: array.numpy() for key, array in arrays.items()},
            rounds=rounds,
        )

    def _round(self, driver: Driver, round_number: int,
               arrays: ArrayRecord) -> tuple[ArrayRecord, RoundRecord, bool]:
        if self.round_clients is not None:
            driver.client_ids = {str(c) for c in self.round_clients(round_number)}
        directive = self.round_directive(round_number) if self.round_directive else None
        with _directed(driver, self.strategy, directive, self.settings_for(round_number)) as settings:
            extra = self.encryption.message_config() if self.encryption is not None else {}
            common = {
                "min_clients": self.min_clients if directive is None else settings.min_responders or 1,
                "settings": settings,
                "evaluate_config": {**(self.evaluate_config or {}), **extra},
                "connect_timeout": self.connect_timeout,
                "on_round_start": self.on_round_start,
            }
            if self.secure is not None:
                fraction = float(getattr(self.strategy, "fraction_train", 1.0))
                candidate, record = run_secure_round(
                    driver, self.strategy, round_number, arrays, secure=self.secure, fraction=fraction, **common
                )
            else:
                candidate, record = run_round(
                    driver, self.strategy, round_number, arrays, train_config={**(self.train_config or {}), **extra},
                    encryption=self.encryption, **common
                )
        accepted = self.accept_round(record) if self.accept_round is not None else True
        return (candidate if accepted else arrays), record, accepted
