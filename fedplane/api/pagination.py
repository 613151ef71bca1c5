"""Page/limit pagination with the seed's `pagination` block."""
from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

__all__ = ["PagePagination", "MAX_PAGE"]

# The page is echoed in `pagination`: no larger than a JSON number of 64 bits (a bigger one was a 500).
MAX_PAGE = 2**63 - 1


def _positive_int(raw: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: f"must be a positive integer, got {raw!r}"})
    if value < 1:
        raise ValidationError({name: "must be at least 1"})
    return min(value, maximum) if maximum else value


class PagePagination(BasePagination):
    default_limit = 20
    max_limit = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.page = _positive_int(request.query_params.get("page"), "page", 1)
        if self.page > MAX_PAGE:
            raise ValidationError({"page": f"must be at most {MAX_PAGE}"})
        self.limit = _positive_int(request.query_params.get("limit"), "limit", self.default_limit, self.max_limit)
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        offset = (self.page - 1) * self.limit
        if offset >= self.total:
            # Past the last page: an empty page, without asking the database for an offset that
            # may not fit its integers (page=10**18 was a "datatype mismatch" on SQLite).
            return []
        return list(queryset[offset : offset + self.limit])

    def get_paginated_response(self, data):
        return Response({
            "success": True,
            "data": data,
            "pagination": {
                "page": self.page,
                "limit": self.limit,
                "total": self.total,
                "hasNext": self.page * self.limit < self.total,
                "hasPrev": self.page > 1,
            },
        })

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "data": schema,
                "pagination": {
                    "type": "object",
                    "properties": {k: {"type": t} for k, t in (
                        ("page", "integer"), ("limit", "integer"), ("total", "integer"),
                        ("hasNext", "boolean"), ("hasPrev", "boolean"))},
                },
                "meta": {"type": "object"},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
        ]
