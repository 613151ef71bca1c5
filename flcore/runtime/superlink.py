"""Run a Flower 1.41 SuperLink as a managed subprocess.

In 1.41 one HTTP port serves the Fleet API (SuperNodes), the Control API (start and
stop runs) and the Runtime API (the ServerApp side: fedplane's driver).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from ._process import ManagedProcess, flower_env, free_port

__all__ = ["SuperLinkProcess", "TlsFiles"]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS SuperLink; clients verify with ``ca_cert``."""

    ca_cert: Path
    cert: Path
    key: Path


class SuperLinkProcess(ManagedProcess):
    """``flower-superlink`` with ``--isolation process``: ServerApps run elsewhere.

    fedplane's driver plays the ServerApp inside the Celery task process, so the
    SuperLink must not spawn one itself (``process`` isolation), nor install app
    dependencies with ``uv`` at every run (about 19 s).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        database: Path | str | None = None,
        tls: TlsFiles | None = None,
        node_auth: bool = False,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if node_auth and tls is None:
            # Flower refuses --enable-supernode-auth without TLS; fail before spawning.
            raise ValueError("SuperNode authentication needs TLS files")
        self.host = host
        self.port = port or free_port(host)
        # ":flwr-in-memory:" keeps state in memory; a file survives restarts
        # (runs, node registrations).
        self.database = str(database) if database else ":flwr-in-memory:"
        self.tls = tls
        # Only SuperNodes whose public key was registered (register_node) may connect.
        self.node_auth = node_auth
        self.env = env or {}
        super().__init__(log_path or Path(tempfile.mkdtemp()) / "superlink.log")

    @property
    def address(self) -> str:
        """host:port to dial (0.0.0.0 binds everywhere; dial it on loopback)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{host}:{self.port}"

    # All three APIs share the port in 1.41; named apart so callers stay correct
    # if a later Flower splits them again.
    control_address = fleet_address = runtime_address = address

    @property
    def insecure(self) -> bool:
        """True when the SuperLink serves plain HTTP."""
        return self.tls is None

    @property
    def root_certificates(self) -> bytes | None:
        """CA certificate PEM bytes for clients, or None when insecure."""
        return self.tls.ca_cert.read_bytes() if self.tls else None

    def command(self) -> list[str]:
        """The ``flower-superlink`` command line."""
        argv = [
            "flower-superlink",
            "--host", self.host,
            "--port", str(self.port),
            "--isolation", "process",
            "--disable-runtime-dependency-installation",
            "--database", self.database,
        ]  # fmt: skip
        if self.tls is None:
            argv.append("--insecure")
        else:
            argv += [
                "--ssl-ca-certfile", str(self.tls.ca_cert),
                "--ssl-certfile", str(self.tls.cert),
                "--ssl-keyfile", str(self.tls.key),
            ]  # fmt: skip
        if self.node_auth:
            argv.append("--enable-supernode-auth")
        return argv

    def start(self, timeout: float = 60.0) -> SuperLinkProcess:
        """Spawn the SuperLink and return once its HTTP API answers ``/health``."""
        self.spawn(self.command(), flower_env(self.env))
        scheme = "http" if self.tls is None else "https"
        verify: bool | str = True if self.tls is None else str(self.tls.ca_cert)
        url = f"{scheme}://{self.address}/health"

        def healthy() -> bool | None:
            try:
                return httpx.get(url, verify=verify, timeout=2).status_code == 200 or None
            except httpx.TransportError:
                return None

        self.wait_ready(healthy, timeout, f"SuperLink {self.address}")
        return self
