"""A claimed simulation runs in a child process of the Celery task, which waits for it.

Ray keeps C++ threads alive in a process after ``ray.shutdown()``. A Celery pool process
that has them cannot exit cleanly: billiard's exit protocol blocks SIGTERM in the exiting
thread only, the pool's SIGTERM lands on one of Ray's threads, and the process dies while
it holds the pool's result-queue lock, so the next pool process waits on it forever (the
worker takes no task again). A process of its own also keeps Ray's signal handlers and
process-group changes away from the worker. It costs a Python start and Django's setup,
about 2 s, beside Ray's own start.

The child runs ``python -m flcore.services.simulation_process EXECUTION_ID FROM_ROUND TASK_ID``,
dies with the task (PR_SET_PDEATHSIG: a worker killed mid-run leaves no simulation
behind, and the sweep hands the execution to another worker), and records everything
itself; the task returns the status it left. The task beats the execution's heartbeat
from its claim until the child exits: the child's own starts only once Python, Django,
Flower and Ray are loaded, seconds later on a busy machine, and a silent gap longer
than FLCORE_STALE_SECONDS would have a sweep hand the execution to a second worker.
The child runs only for the task's claim (TASK_ID), and stops once that claim is lost.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys

__all__ = ["run_in_own_process", "main"]

log = logging.getLogger(__name__)


def run_in_own_process(execution_id: str, from_round: int, task_id: str) -> str:
    """Run the simulation that task `task_id` claimed in a child process; its final status."""
    from ..choices import ExecutionStatus as S
    from ..models import TrainingExecution
    from ..runtime._process import die_with_parent
    from .runner import _Heartbeat, finish, holds_claim

    command = [sys.executable, "-m", __name__, execution_id, str(from_round), task_id]
    heartbeat = _Heartbeat(execution_id, task_id)
    heartbeat.start()
    try:
        returncode = subprocess.call(command, env=os.environ.copy(), preexec_fn=die_with_parent)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
    status = TrainingExecution.objects.values_list("status", flat=True).get(pk=execution_id)
    if returncode != 0 and holds_claim(execution_id, task_id):  # it died before recording its end
        log.error("simulation process of execution %s exited with %s", execution_id, returncode)
        finish(execution_id, S.FAILED, error_code="FL003", owner=task_id,
               error_message=f"The simulation's process exited with code {returncode} before it finished.")
        return S.FAILED
    return status


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
    import django

    django.setup()
    import gc

    from .. import runtime
    from ..models import TrainingExecution
    from .runner import Claim, run_claimed

    runtime.run_simulation  # noqa: B018 -- imports Flower and Ray's driver side now, before the freeze
    # What is loaded by now lives as long as the process: keep it out of every collection
    # (at 1,000 virtual clients a round otherwise spends 0.2-0.4 s in full collections).
    gc.freeze()

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/simulation] %(message)s")
    execution_id, from_round, task_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    execution = TrainingExecution.objects.get(pk=execution_id)
    if execution.celery_task_id != task_id:  # taken over (or resumed) while this process started
        log.warning("execution %s is held by task %s, not %s: nothing to run", execution_id,
                    execution.celery_task_id, task_id)
        return
    status = run_claimed(Claim(execution, from_round))
    log.info("execution %s ended %s", execution_id, status)


if __name__ == "__main__":
    main()
