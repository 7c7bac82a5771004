"""The audit log in the Django admin: read-only, searchable by principal, action, resource
and key, filterable by outcome and action."""

from __future__ import annotations

from django.contrib import admin

from iam.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "principal_arn", "action", "resource", "allowed", "status", "access_key_id")
    list_filter = ("allowed", "action", "account_id")
    search_fields = ("principal_arn", "action", "resource", "access_key_id", "request_id")
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
