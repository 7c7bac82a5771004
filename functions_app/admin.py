from django.contrib import admin, messages

from functions_app.models import (
    AccessKey,
    Alias,
    CodeArtifact,
    EventInvokeConfig,
    Function,
    FunctionVersion,
    PolicyStatement,
    ProvisionedConcurrencyConfig,
)
from functions_app.services.access_keys import access_key_create, access_key_revoke


class FunctionVersionInline(admin.TabularInline):
    model = FunctionVersion
    fields = ("version", "runtime", "handler", "memory_size", "timeout", "state", "last_modified")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    list_display = ("name", "reserved_concurrency", "created_at")
    search_fields = ("name",)
    inlines = [FunctionVersionInline]


@admin.register(FunctionVersion)
class FunctionVersionAdmin(admin.ModelAdmin):
    list_display = (
        "function",
        "version",
        "runtime",
        "handler",
        "memory_size",
        "timeout",
        "state",
        "last_modified",
    )
    list_filter = ("runtime", "state")
    search_fields = ("function__name",)
    readonly_fields = ("code", "revision_id")


@admin.register(CodeArtifact)
class CodeArtifactAdmin(admin.ModelAdmin):
    list_display = ("sha256", "size", "unzipped_size", "created_at")
    readonly_fields = ("sha256", "size", "unzipped_size", "storage_name", "created_at")


@admin.register(Alias)
class AliasAdmin(admin.ModelAdmin):
    list_display = ("function", "name", "function_version", "additional_version_weights")
    search_fields = ("function__name", "name")


@admin.register(ProvisionedConcurrencyConfig)
class ProvisionedConcurrencyConfigAdmin(admin.ModelAdmin):
    list_display = ("function", "qualifier", "requested", "allocated", "status")


@admin.register(EventInvokeConfig)
class EventInvokeConfigAdmin(admin.ModelAdmin):
    list_display = (
        "function",
        "qualifier",
        "maximum_retry_attempts",
        "maximum_event_age_seconds",
        "on_success",
        "on_failure",
    )


@admin.register(PolicyStatement)
class PolicyStatementAdmin(admin.ModelAdmin):
    list_display = ("function", "qualifier", "sid", "created_at")


@admin.register(AccessKey)
class AccessKeyAdmin(admin.ModelAdmin):
    list_display = ("access_key_id", "user", "description", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("access_key_id", "user__username")
    fields = ("user", "description", "access_key_id", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("access_key_id", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = access_key_create(user=obj.user, description=obj.description)
        obj.pk = key.pk
        obj.access_key_id = key.access_key_id
        self.message_user(
            request,
            f"Access key {key.access_key_id} created. Its secret, shown only this once: {secret}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected access keys")
    def revoke(self, request, queryset):
        for key in queryset:
            access_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
