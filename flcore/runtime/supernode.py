"""Run Flower SuperNodes (one per fedplane client) as managed subprocesses."""

from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ._process import ManagedProcess, flower_env, free_port
from .fab import DEFAULT_CLIENTAPP

__all__ = ["SuperNodeProcess", "format_node_config"]

NodeConfigValue = str | int | float | bool
_NODE_ID_LINE = re.compile(r"SuperNode ID: (\d+)")


def format_node_config(node_config: Mapping[str, NodeConfigValue]) -> str:
    """Render ``--node-config``: space-separated ``key=value`` with TOML values."""
    parts = []
    for key, value in node_config.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, (int, float)):
            rendered = repr(value)
        else:  # a JSON string literal is a valid TOML basic string
            rendered = json.dumps(str(value))
        parts.append(f"{key}={rendered}")
    return " ".join(parts)


class SuperNodeProcess(ManagedProcess):
    """``flower-supernode`` connected to a SuperLink's Fleet API.

    ``node_config`` reaches the ClientApp as ``context.node_config``; fedplane puts
    ``fedplane-client-id`` and ``data-path`` there, and its ClientApp echoes the node
    config in every reply so a round's results map back to fedplane clients.
    """

    def __init__(
        self,
        superlink: str,
        node_config: Mapping[str, NodeConfigValue],
        *,
        root_certificates: Path | None = None,
        auth_private_key: Path | None = None,
        runtime_port: int | None = None,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        warm: bool = False,
        preload: str = DEFAULT_CLIENTAPP,
    ) -> None:
        self.superlink = superlink
        self.node_config = dict(node_config)
        self.root_certificates = root_certificates
        # OpenSSH ECDSA private key whose public key the SuperLink has registered;
        # with it the SuperLink gives this node its registered (stable) node id.
        self.auth_private_key = auth_private_key
        # Each SuperNode serves a Runtime API to its own ClientApp processes; two
        # SuperNodes on one host need two ports.
        self.runtime_port = runtime_port or free_port()
        # SuperExec checks the SuperNode for ClientApp work every second by
        # default; a tenth of that trims round time at no real cost.
        self.env = {"FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.1", **(env or {})}
        self.node_id: int | None = None
        super().__init__(log_path or Path(tempfile.mkdtemp()) / "supernode.log")
        # warm: ``--isolation process`` plus fedplane's long-lived ClientApp
        # executor (flcore.runtime.executor) instead of a process per message.
        self.executor = (
            ManagedProcess(self.log_path.with_name(self.log_path.stem + "-executor.log"))
            if warm
            else None
        )
        # The ClientApp the warm executor imports at start: the runs' own (e.g.
        # flcore.runtime.numpy_app:app keeps torch out of the executor).
        self.preload = preload

    def command(self) -> list[str]:
        """The ``flower-supernode`` command line (also what a remote machine runs)."""
        # fedplane's launcher: stock flower-supernode with a 0.2 s idle poll, not 3 s
        # (supernode_main.py); on another machine plain `flower-supernode` works too.
        argv = [
            sys.executable, "-m", "flcore.runtime.supernode_main",
            "--superlink", self.superlink,
            "--port", str(self.runtime_port),
            "--node-config", format_node_config(self.node_config),
        ]  # fmt: skip
        if self.root_certificates is None:
            argv.append("--insecure")
        else:
            argv += ["--root-certificates", str(self.root_certificates)]
        if self.auth_private_key is not None:
            argv += ["--auth-supernode-private-key", str(self.auth_private_key)]
        if self.executor is not None:
            argv += ["--isolation", "process"]
        return argv

    def command_line(self) -> str:
        """``command()`` quoted for a shell."""
        return shlex.join(self.command())

    def start(self, timeout: float = 60.0) -> SuperNodeProcess:
        """Spawn the SuperNode; return once the SuperLink gave it a node id."""
        self.spawn(self.command(), flower_env(self.env))
        if self.executor is not None:
            executor_argv = [
                sys.executable, "-m", "flcore.runtime.executor",
                "--runtime-api-address", f"127.0.0.1:{self.runtime_port}",
                "--preload", self.preload,
            ]  # fmt: skip
            self.executor.spawn(executor_argv, flower_env(self.env))

        def registered() -> int | None:
            # Without node auth the node id is random per start; either way only
            # the SuperNode's own log says which id this process got. A node the
            # SuperLink refuses (unregistered key) exits, which ends the wait.
            match = _NODE_ID_LINE.search(self.log_text())
            return int(match.group(1)) if match else None

        # On failure wait_ready calls self.stop(), which also stops the executor.
        self.node_id = self.wait_ready(registered, timeout, f"SuperNode {self.node_config}")
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop the SuperNode (it deactivates itself on the SuperLink) and its executor."""
        if self.executor is not None:
            self.executor.stop(grace)
        super().stop(grace)

    def kill(self) -> None:
        """SIGKILL SuperNode and executor (simulates a crashed client machine)."""
        if self.executor is not None:
            self.executor.kill()
        super().kill()
