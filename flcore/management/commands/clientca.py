"""Print where the client CA's certificate is (made first in the embedded default), for the mTLS listener."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from fedplane.api.errors import DomainError
from flcore.services.client_ca import client_ca


class Command(BaseCommand):
    help = ("Print the client CA certificate's path (FLCORE_CLIENT_CA_CERT, or VAR_DIR/client-ca/ca.pem made now "
            "in the embedded default), to give to uvicorn's --ssl-ca-certs or a proxy's client-CA setting.")

    def add_arguments(self, parser):
        parser.add_argument("--pem", action="store_true", help="print the certificate itself instead")

    def handle(self, *args, **opts):
        try:
            ca = client_ca()
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(ca.cert_path.read_text() if opts["pem"] else f"{ca.cert_path.resolve()}\n")
