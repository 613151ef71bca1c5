"""Probe every region at an interval (health, automatic failover) without celery beat."""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from regions.services.health import probe_all


class Command(BaseCommand):
    help = "Probe every region's endpoint every --interval seconds (once with --once)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, interval: float, once: bool, **options):
        while True:
            report = probe_all()
            self.stdout.write(" ".join(f"{name}={r['status']}" for name, r in sorted(report.items())))
            if once:
                return
            time.sleep(interval)
