"""Warm ClientApp executor for a SuperNode started with ``--isolation process``.

Stock SuperNodes spawn one ``flwr-clientapp`` process per message, which re-imports
torch and the app each time (about 6 s here, twice per round). This long-lived
process imports them once, then claims the SuperNode's ClientApp tasks from its
Runtime API and runs them in-process, one at a time.

Run: ``python -m flcore.runtime.executor --runtime-api-address 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import threading
import time

import httpx
from flwr.app import Context, Error, Message
from flwr.cli.install import install_from_fab
from flwr.clientapp.client_app import LoadClientAppError
from flwr.clientapp.utils import get_load_client_app_fn
from flwr.common.constant import ErrorCode, SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime import run_clientapp
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from .fab import DEFAULT_CLIENTAPP
from .heartbeat import TaskHeartbeat
from .poll import AdaptivePoll, active_seconds
from .retry import transient_retry

__all__ = ["run_task", "serve"]

log = logging.getLogger(__name__)

# Flower 1.41's SuperNode hands a task out before it has fetched the message's objects from
# the SuperLink: milliseconds on a quiet host, more than 20 s for a few of 50 nodes sharing
# two loaded cores. A task whose pull gives up gets no reply (the round waits for it until
# its timeout). But the objects of a run stopped mid-delivery (its worker died) never come,
# and the SuperNode keeps the task's token alive, so nothing tells them apart: Flower would
# wait 2 hours while this one-at-a-time executor serves nobody else. The bound must let a
# loaded pull finish and free the node before a taken-over run stops waiting for it
# (FLCORE_STALE_SECONDS + its connect timeout): FEDPLANE_CLIENT_PULL_TIMEOUT, 45 s.
run_clientapp.pull_and_inflate_object_from_tree = functools.partial(
    run_clientapp.pull_and_inflate_object_from_tree,
    max_time=float(os.environ.get("FEDPLANE_CLIENT_PULL_TIMEOUT", "45")))
_load_client_app = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
_installed: set[str] = set()  # FAB hashes already unpacked into FLWR_HOME


def _client(address: str, token: str | None = None) -> RuntimeHttpClient:
    interceptors: list[object] = [RuntimeVersionHttpInterceptor(component_name="flwr-clientapp")]
    if token:
        interceptors.append(RuntimeTokenHttpInterceptor(token))
    # The SuperNode's Runtime API listens on loopback without TLS.
    return RuntimeHttpClient.from_server_address(  # type: ignore[arg-type]
        address, True, None, interceptors, retry_invoker=transient_retry(max_time=20))


def run_task(address: str, token: str) -> None:
    """Run one claimed ClientApp task: pull input, call the app, push the reply."""
    client = _client(address, token)
    beat = TaskHeartbeat(client).start()
    message: Message | None = None
    context: Context | None = None
    reply: Message | None = None
    status, details = SubStatus.FAILED, ""
    loaded = True  # set False while the ClientApp loads
    try:
        message, context, run, fab = pull_task_input(client)
        if fab.hash_str not in _installed:
            install_from_fab(fab.content, skip_prompt=True)
            _installed.add(fab.hash_str)
        loaded = False
        app = _load_client_app(run.fab_id, run.fab_version, fab.hash_str)
        loaded = True
        reply = app(message=message, context=context)
        status = SubStatus.COMPLETED
    except Exception as err:  # pylint: disable=broad-exception-caught
        # As flwr-clientapp does: an app failure becomes an error reply the driver
        # records against this node; the executor itself keeps serving. Unlike it, the
        # reason keeps the cause (e.g. the ModuleNotFoundError), which the driver reports.
        log.exception("ClientApp task failed")
        cause = err.__cause__
        details = f"{type(err).__name__}: {err}" + (f" ({type(cause).__name__}: {cause})" if cause else "")
        # Flower's loader raises the ImportError itself for a module that is not there.
        code = (ErrorCode.LOAD_CLIENT_APP_EXCEPTION if isinstance(err, LoadClientAppError) or not loaded
                else ErrorCode.CLIENT_APP_RAISED_EXCEPTION)
        if message is not None:
            reply = Message(Error(code, details), reply_to=message)
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
            push_task_output(client, context, status, details)
        finally:
            beat.stop()
            client.close()


def serve(
    address: str,
    preload: str | None = DEFAULT_CLIENTAPP,
    poll: float = 0.1,
    stop: threading.Event | None = None,
    idle_poll: float = 0.5,
) -> None:
    """Claim and run ClientApp tasks from the SuperNode at ``address`` until ``stop``.

    Polls every ``poll`` seconds while tasks came recently, else every ``idle_poll``:
    each poll is a request the SuperNode serves (50 co-located nodes polling at 0.05 s
    were the largest per-node cost while a run was active, about 3% of a core each),
    and an idle SuperNode polls its SuperLink slowly anyway (supernode_main.py).
    """
    if preload:
        importlib.import_module(preload.partition(":")[0])  # the point: import once
    stop = stop or threading.Event()
    acquirer = _client(address)
    request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP])
    pace = AdaptivePoll(poll, idle_poll, active_seconds())
    try:
        while not stop.is_set():
            try:
                res = acquirer.AcquireTask(request)
            except httpx.TransportError:  # SuperNode not up yet, or restarting
                time.sleep(1.0)
                continue
            if res.HasField("task") and res.token:
                pace.worked()
                try:
                    run_task(address, res.token)
                except httpx.HTTPError:  # reply lost; the SuperNode expires the task
                    log.exception("could not report a ClientApp task to the SuperNode")
            else:
                time.sleep(pace.interval)
    finally:
        acquirer.close()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runtime-api-address", required=True, help="SuperNode Runtime API host:port"
    )
    parser.add_argument(
        "--preload", default=DEFAULT_CLIENTAPP, help="ClientApp module to import at start"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    serve(args.runtime_api_address, preload=args.preload or None)


if __name__ == "__main__":
    main()
