"""The WebSocket `stream` action's "region_metrics" type: live per-region figures and health."""
from __future__ import annotations

from channels.db import database_sync_to_async

from fedplane.api.scopes import Scope
from fedplane.events.streams import register_stream

__all__ = ["register_streams"]

_WINDOW_HOURS = 5 / 60


@database_sync_to_async
def _snapshot(regions: list[str] | None) -> dict:
    from django.utils import timezone

    from .models import Region
    from .services.metrics import metric_by_region

    figures = {name: metric_by_region(name, regions=regions, hours=_WINDOW_HOURS)
               for name in ("request_latency_p95", "error_rate", "throughput")}
    health = dict(Region.objects.filter(**({"name__in": regions} if regions else {}))
                  .values_list("name", "health_status"))
    return {"window_seconds": int(_WINDOW_HOURS * 3600), "health": health, **figures,
            "timestamp": timezone.now().isoformat()}


async def region_metrics_stream(params: dict, principal) -> dict:
    regions = params.get("regions")
    return await _snapshot([str(r) for r in regions] if isinstance(regions, list) and regions else None)


def register_streams() -> None:
    register_stream("region_metrics", region_metrics_stream, scope=Scope.REGIONS_MODELS_READ)
