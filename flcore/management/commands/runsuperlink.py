"""Run this deployment's Flower SuperLink (Fleet, Control and Runtime APIs on one port)."""
from __future__ import annotations

import signal
import socket
from pathlib import Path
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flcore.runtime.superlink import SuperLinkProcess, TlsFiles


def _require_free_port(host: str, port: int) -> None:
    """Refuse to start when another SuperLink (or anything) holds the port: its /health
    would otherwise pass for ours."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(f"{host}:{port} is in use ({exc.strerror}); stop what holds it or set "
                               "FLOWER_SUPERLINK_ADDRESS") from exc


class Command(BaseCommand):
    help = "Start a Flower SuperLink at FLOWER_SUPERLINK_ADDRESS and keep it running."

    def add_arguments(self, parser):
        parser.add_argument("--host", help="bind address (default: host of FLOWER_SUPERLINK_ADDRESS)")

    def handle(self, *args, **opts):
        host, _, port = settings.FLOWER_SUPERLINK_ADDRESS.rpartition(":")
        log_dir = settings.VAR_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        tls = None
        if settings.FLOWER_SSL_CERTFILE:
            tls = TlsFiles(ca_cert=Path(settings.FLOWER_ROOT_CERTIFICATES), cert=Path(settings.FLOWER_SSL_CERTFILE),
                           key=Path(settings.FLOWER_SSL_KEYFILE))
        if settings.FLOWER_NODE_AUTH and (tls is None or not settings.FLOWER_SSL_KEYFILE):
            raise CommandError("FLOWER_NODE_AUTH needs FLOWER_SSL_CERTFILE, FLOWER_SSL_KEYFILE and "
                               "FLOWER_ROOT_CERTIFICATES (manage.py flowertls DIR writes development ones)")
        # --database keeps node registrations (and so clients' node ids) across restarts.
        superlink = SuperLinkProcess(host=opts["host"] or host, port=int(port), tls=tls,
                                     node_auth=settings.FLOWER_NODE_AUTH,
                                     database=settings.VAR_DIR / "superlink.db",
                                     log_path=log_dir / "superlink-flower.log")
        _require_free_port(superlink.host, superlink.port)
        superlink.start()
        self.stdout.write(f"SuperLink ready at {superlink.address} (log: {superlink.log_path})", ending="\n")
        self.stdout.flush()
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        try:
            while not done.wait(1.0):
                if not superlink.is_alive():
                    raise SystemExit(f"SuperLink exited:\n{superlink.log_text()[-2000:]}")
        finally:
            superlink.stop()
