"""One plain Django view returning the document GET /api/v1/integration/events returns.

Same queries as the DRF view (COUNT(*), then one page of full Event rows ordered
by id), same envelope shape and field formats, built by hand and dumped with orjson.
"""
from __future__ import annotations

import uuid

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone

from fedplane.events.models import Event


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def events(request):
    page = max(1, int(request.GET.get("page") or 1))
    limit = min(100, max(1, int(request.GET.get("limit") or 20)))
    queryset = Event.objects.order_by("id")
    total = queryset.count()
    offset = (page - 1) * limit
    rows = list(queryset[offset: offset + limit])
    body = {
        "success": True,
        "data": [
            {"id": e.id, "event": e.type, "system": e.system, "severity": e.severity,
             "timestamp": _iso(e.created_at), "data": e.data, "requestId": e.request_id}
            for e in rows
        ],
        "pagination": {"page": page, "limit": limit, "total": total,
                       "hasNext": page * limit < total, "hasPrev": page > 1},
        "meta": {"timestamp": _iso(timezone.now()), "version": settings.FEDPLANE_VERSION,
                 "requestId": str(uuid.uuid4())},
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json")


urlpatterns = [path("api/v1/integration/events", events)]
