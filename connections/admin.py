"""Connections in the admin: that a token exists and when it expires, never its value."""

from django.contrib import admin

from connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "user",
        "provider",
        "status",
        "has_token",
        "token_expires_at",
        "last_used_at",
    )
    list_filter = ("provider", "status")
    search_fields = ("login", "provider_account_id", "user__email")
    exclude = ("access_token", "refresh_token")
    readonly_fields = (
        "user",
        "provider",
        "provider_account_id",
        "login",
        "display_name",
        "scopes",
        "social_account",
        "has_access_token",
        "has_refresh_token",
        "token_expires_at",
        "token_key_id",
        "refresh_failures",
        "next_refresh_attempt_at",
        "created_at",
        "last_refreshed_at",
        "last_used_at",
        "revoked_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(boolean=True, description="Token stored")
    def has_token(self, obj):
        return obj.has_token

    @admin.display(boolean=True, description="Access token stored")
    def has_access_token(self, obj):
        return obj.access_token is not None

    @admin.display(boolean=True, description="Refresh token stored")
    def has_refresh_token(self, obj):
        return obj.refresh_token is not None

    def has_add_permission(self, request):
        return False
