"""Admin for apps, publishers, verification, redirect URIs and platform tokens (never their
values: tokens are stored as checksums and the admin shows none of them)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
    revoke_access_token,
)

from apps_registry import services
from apps_registry.models import App, AppScope, Publisher, UsedAuthorizationCode

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()
OAuthClient = get_application_model()

for model in (OAuthClient, AccessToken, RefreshToken, Grant):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class AppScopeInline(admin.TabularInline):
    model = AppScope
    extra = 0


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="People see this."
    )


class SuspendedFilter(admin.SimpleListFilter):
    title = "suspended"
    parameter_name = "suspended"

    def lookups(self, request, model_admin):
        return [("yes", "Suspended"), ("no", "Active")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(suspended_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(suspended_at__isnull=True)
        return queryset


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "publisher", "client_id", "client_type", "verified", "suspended_at")
    list_filter = ("verified", SuspendedFilter, "client__client_type", "may_request_background")
    search_fields = ("name", "publisher__name", "client__client_id", "contact_email")
    list_select_related = ("publisher", "client")
    inlines = [AppScopeInline]
    readonly_fields = ("client", "verified", "suspended_at", "suspension_reason", "created_at")
    actions = ["suspend", "unsuspend", "verify", "unverify"]

    @admin.display(description="client id")
    def client_id(self, obj):
        return obj.client.client_id

    @admin.display(description="client type")
    def client_type(self, obj):
        return obj.client.client_type

    def has_add_permission(self, request):
        return False  # apps are registered through the developer pages (services.app_register)

    @admin.action(description="Suspend the selected apps (asks for a reason)")
    def suspend(self, request, queryset):
        if "apply" in request.POST:
            form = SuspendForm(request.POST)
            if form.is_valid():
                for app in queryset:
                    services.app_suspend(
                        app=app,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                        request=request,
                    )
                self.message_user(
                    request, f"Suspended {queryset.count()} app(s).", messages.SUCCESS
                )
                return None
        else:
            form = SuspendForm()
        return render(
            request,
            "apps_registry/admin_suspend.html",
            {
                **self.admin_site.each_context(request),
                "apps": queryset,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": "Suspend apps",
            },
        )

    @admin.action(description="Lift the suspension of the selected apps")
    def unsuspend(self, request, queryset):
        for app in queryset:
            services.app_unsuspend(app=app, actor=request.user, request=request)

    @admin.action(description="Mark the selected apps verified")
    def verify(self, request, queryset):
        for app in queryset:
            services.app_verify(app=app, actor=request.user, verified=True, request=request)

    @admin.action(description="Remove the verified mark")
    def unverify(self, request, queryset):
        for app in queryset:
            services.app_verify(app=app, actor=request.user, verified=False, request=request)


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "website", "created_at")
    search_fields = ("name", "owner__email", "website")
    raw_id_fields = ("owner", "members")


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    """Redirect URIs and client settings; the (hashed) secret is neither shown nor editable."""

    list_display = ("client_id", "name", "client_type", "allow_client_credentials", "updated")
    list_filter = ("client_type", "allow_client_credentials")
    search_fields = ("client_id", "name", "app__name")
    fields = (
        "client_id",
        "name",
        "client_type",
        "redirect_uris",
        "allow_client_credentials",
        "previous_client_secret_expires_at",
        "created",
        "updated",
    )
    readonly_fields = (
        "client_id",
        "client_type",
        "previous_client_secret_expires_at",
        "created",
        "updated",
    )

    def has_add_permission(self, request):
        return False


class TokenAdminMixin:
    search_fields = ("application__client_id", "application__name", "user__email")
    list_select_related = ("application", "user")
    raw_id_fields = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccessToken)
class AccessTokenAdmin(TokenAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "application", "user", "scope", "created", "expires")
    list_filter = ("application", "expires")
    fields = ("application", "user", "scope", "created", "expires", "source_refresh_token")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected access tokens (and their refresh tokens)")
    def revoke(self, request, queryset):
        for token in queryset:
            revoke_access_token(token)


@admin.register(RefreshToken)
class RefreshTokenAdmin(TokenAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "application", "user", "token_family", "created", "revoked")
    list_filter = ("application", "revoked")
    fields = ("application", "user", "token_family", "created", "revoked")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected refresh tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            token.revoke()


@admin.register(Grant)
class AuthorizationCodeAdmin(TokenAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "application", "user", "expires")
    fields = ("application", "user", "redirect_uri", "scope", "expires", "code_challenge_method")


@admin.register(UsedAuthorizationCode)
class UsedAuthorizationCodeAdmin(admin.ModelAdmin):
    list_display = ("pk", "client", "used_at", "forget_after")
    fields = ("client", "used_at", "forget_after")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
