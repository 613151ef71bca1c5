"""Run the whole platform on this machine: migrations, ASGI server, Celery workers, SuperLink.

It stays in the foreground and restarts any of them that exits (see PlatformProcesses.supervise).
"""
from __future__ import annotations

import io
import signal
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from fedplane.ops.platform import PlatformProcesses


class Command(BaseCommand):
    help = "Start the ASGI server and Celery workers (embedded default: no external service)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")
        parser.add_argument("--web-workers", type=int, default=1,
                            help="ASGI server processes sharing the port (/metrics sums them).")

    def handle(self, *args, **opts):
        call_command("migrate", verbosity=0, interactive=False)
        client_ca = io.StringIO()
        try:  # the client CA for mTLS: made at the first start in the embedded default (flcore's clientca)
            call_command("clientca", stdout=client_ca)
        except CommandError as exc:  # production without one: clients get no certificates
            client_ca.write(f"none ({exc})\n")
        platform = PlatformProcesses(host=opts["host"], port=opts["port"], worker_concurrency=opts["concurrency"],
                                     web_workers=opts["web_workers"])
        stopping = False

        def on_signal(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        platform.start()
        self.stdout.write(self.style.SUCCESS(f"fedplane is up ({settings.FEDPLANE_ENV} mode)"))
        self.stdout.write(f"  API        {platform.url}/api/v1/   (docs: {platform.url}/api/docs/)")
        self.stdout.write(f"  admin      {platform.url}/admin/")
        self.stdout.write(f"  events     {platform.url.replace('http', 'ws')}/api/v1/ws  and  "
                          f"{platform.url}/api/v1/integration/events/stream")
        self.stdout.write(f"  health     {platform.url}/readyz   metrics: {platform.url}/metrics")
        self.stdout.write(f"  logs       {platform.log_dir}")
        self.stdout.write(f"  client CA  {client_ca.getvalue().strip()}   (mTLS: README, Client certificates)")
        self.stdout.write("  credentials: python manage.py createadmin   (prints an API key)")
        try:
            while not stopping:
                platform.supervise()  # a child that exited comes back after a backoff; the rest keep serving
                time.sleep(0.5)
        finally:
            self.stdout.write("stopping...")
            platform.stop()
