"""Admin: the read-only event log."""
from django.contrib import admin

from fedplane.api.admin import ReadOnlyAdmin

from .models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "position", "type", "system", "severity", "created_at", "request_id")
    list_filter = ("system", "severity", "type")
    search_fields = ("type", "=request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False  # the log grows without bound: skip the COUNT(*) of all rows
