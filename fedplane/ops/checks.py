"""Readiness probes of what a request depends on: database, broker, channel layer."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

__all__ = ["run_checks"]

TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    from fedplane.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)


async def _channel_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "readiness.probe"})
    await asyncio.wait_for(layer.receive(channel), timeout=TIMEOUT_SECONDS)


def check_channel_layer() -> None:
    async_to_sync(_channel_round_trip)()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "channelLayer": check_channel_layer,
}


def run_checks() -> tuple[bool, dict]:
    results, ready = {}, True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "up"}
        except Exception as exc:  # a probe reports any failure as "down", with its reason
            ready = False
            results[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["latencyMs"] = round((time.perf_counter() - started) * 1000, 2)
    return ready, results
