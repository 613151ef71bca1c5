"""Admin: API keys (rotate/revoke actions) and the read-only audit log."""
from django.contrib import admin, messages

from . import services
from .models import ApiKey, AuditEntry

try:  # the library registers its own APIKey model; ours replaces it in the admin
    from rest_framework_api_key.models import APIKey as LibraryAPIKey
    admin.site.unregister(LibraryAPIKey)
except admin.sites.NotRegistered:
    pass


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "revoked", "created", "expiry_date")
    list_filter = ("revoked",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "hashed_key", "created", "rotated_from")
    actions = ("rotate_keys", "revoke_keys")

    @admin.action(description="Rotate selected keys (shows the new keys once)")
    def rotate_keys(self, request, queryset):
        for key in queryset.filter(revoked=False):
            new_key, plaintext = services.api_key_rotate(key=key)
            self.message_user(request, f"{new_key.name}: new key {plaintext}", messages.WARNING)

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "username", "method", "path", "status_code", "outcome", "request_id")
    list_filter = ("outcome", "method")
    search_fields = ("path", "username", "request_id")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
