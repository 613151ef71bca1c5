"""Write a development CA and SuperLink certificate for TLS and SuperNode authentication."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from flcore.runtime.credentials import DEFAULT_HOSTS, generate_dev_tls


class Command(BaseCommand):
    help = ("Write ca.pem, server.pem and server.key (ECDSA P-384, valid for 127.0.0.1, localhost and "
            "each --host) and print the settings that use them. For development: production brings "
            "certificates from its own CA.")

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--host", action="append", default=[],
                            help="name or IP that SuperNodes dial (repeatable)")
        parser.add_argument("--days", type=int, default=365)

    def handle(self, *args, **opts):
        # Loopback stays: the platform's own driver dials the SuperLink on 127.0.0.1.
        files = generate_dev_tls(opts["folder"], [*DEFAULT_HOSTS, *opts["host"]], days=opts["days"])
        self.stdout.write(f"FLOWER_ROOT_CERTIFICATES={files.ca_cert.resolve()}\n"
                          f"FLOWER_SSL_CERTFILE={files.cert.resolve()}\n"
                          f"FLOWER_SSL_KEYFILE={files.key.resolve()}\n")
