"""The admin kit every app's admin uses, and the API's own admin (keys, audit log).

Admin actions are writes like any API call: they call the same services, a DomainError
becomes an error message (never a 500), and each attempt leaves an audit entry.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse

from . import services
from .errors import DomainError
from .models import ApiKey, AuditEntry

__all__ = ["ReadOnlyAdmin", "ServiceWrittenAdmin", "audit", "act", "action_page", "bound", "ApiKeyAdmin",
           "AuditEntryAdmin"]

ACTION_TEMPLATE = "admin/fedplane/action_form.html"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records only the platform writes: browse them, never add, change or delete them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """A parent's platform-written rows, listed with a link to each; never added or edited here."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class ServiceWrittenAdmin(ReadOnlyAdmin):
    """Records whose writes follow the API's rules: created and changed through the API or this
    admin's actions (which call the same services), never through a form."""


def audit(request, *, target: str, action: str, status: int) -> None:
    """One audit row per admin write, shaped like the API's (AuditMiddleware)."""
    user = request.user
    AuditEntry.objects.create(
        user=user if user.is_authenticated else None, username=user.get_username(),
        method="POST", path=f"{request.path}{target}/{action}"[:512], view_name=f"admin:{action}"[:200],
        status_code=status, outcome=AuditEntry.outcome_for(status),
        request_id=getattr(request, "request_id", "") or str(uuid.uuid4()),
        remote_addr=request.META.get("REMOTE_ADDR") or None)


def act(modeladmin: admin.ModelAdmin, request, objects: Iterable, call: Callable[[Any], Any], *,
        action: str, success: Callable[[Any, Any], str]) -> list:
    """`call(obj)` for each object in its own transaction. A refusal is reported and the others
    still run; every attempt is audited. Returns the results of the calls that succeeded."""
    done = []
    for obj in objects:
        try:
            with transaction.atomic():
                result = call(obj)
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            audit(request, target=str(obj.pk), action=action, status=exc.status)
            continue
        modeladmin.message_user(request, success(obj, result), messages.SUCCESS)
        modeladmin.log_change(request, obj, f"Admin action: {action}")
        audit(request, target=str(obj.pk), action=action, status=200)
        done.append(result)
    return done


def action_page(modeladmin: admin.ModelAdmin, request, queryset, form, *, title: str, submit: str,
                intro: str = "") -> TemplateResponse:
    """The intermediate page of an action: its form, re-posting the selection to the changelist."""
    context = {**modeladmin.admin_site.each_context(request), "title": title, "intro": intro, "form": form,
               "objects": list(queryset), "opts": modeladmin.model._meta, "submit": submit,
               "action": request.POST.get("action", ""), "checkbox": helpers.ACTION_CHECKBOX_NAME,
               "media": modeladmin.media + form.media}
    return TemplateResponse(request, ACTION_TEMPLATE, context)


def bound(form_class, request, **kwargs):
    """The action's form, bound only once its page was submitted (the first call comes from the changelist)."""
    return form_class(request.POST if "apply" in request.POST else None, **kwargs)


try:  # the library registers its own APIKey model; ours replaces it in the admin
    from rest_framework_api_key.models import APIKey as LibraryAPIKey
    admin.site.unregister(LibraryAPIKey)
except admin.sites.NotRegistered:
    pass


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "scope_count", "revoked", "created", "expiry_date", "rotated_from")
    list_filter = ("revoked", "created", "expiry_date")
    search_fields = ("name", "prefix", "user__username")
    date_hierarchy = "created"
    raw_id_fields = ("user", "rotated_from")
    list_select_related = ("user", "rotated_from")
    # scopes are checked against the owner's when issued; revocation is an action
    readonly_fields = ("prefix", "hashed_key", "created", "rotated_from", "user", "scopes", "revoked")
    actions = ("rotate", "revoke")

    def has_add_permission(self, request):
        return False  # keys are issued through the API, which checks their scopes against the owner's

    @admin.display(description="scopes")
    def scope_count(self, obj) -> int:
        return len(obj.scopes or [])

    @admin.action(description="Rotate selected keys (shows each new key once)")
    def rotate(self, request, queryset):
        # The plaintext goes out once, in this response's page: not in a message (a cookie), never stored.
        rotated = []

        def rotate_one(key):
            new, plaintext = services.api_key_rotate(key=key)
            rotated.append((key, new, plaintext))
            return new
        act(self, request, queryset, rotate_one, action="rotate",
            success=lambda old, new: f"{old.name}: rotated to {new.prefix}; the old key {old.prefix} is revoked.")
        if not rotated:
            return None
        context = {**self.admin_site.each_context(request), "title": "New API keys", "opts": self.model._meta,
                   "rotated": rotated}
        return TemplateResponse(request, "admin/fedplane/rotated_keys.html", context)  # never_cache: admin's

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        act(self, request, queryset, lambda key: services.api_key_revoke(key=key), action="revoke",
            success=lambda key, _: f"{key.name} ({key.prefix}) revoked")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "username", "api_key_prefix", "method", "path", "status_code", "outcome",
                    "duration_ms", "request_id")
    list_filter = ("outcome", "method", "status_code")
    search_fields = ("path", "username", "request_id", "api_key_prefix", "view_name")
    date_hierarchy = "timestamp"
    raw_id_fields = ("user",)
