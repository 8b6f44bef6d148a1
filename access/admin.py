"""The operators' views: audit events (read-only for everyone) and grants (read, revoke in bulk).

Built to stay fast with a million events: list columns are the events' own denormalised labels
(no join, no per-row query), filters hit indexes, the count is capped instead of a full
``COUNT(*)``, the date hierarchy is computed from MIN/MAX instead of ``SELECT DISTINCT`` over the
table, searches resolve people through the (small) user table and resources by an indexed prefix.
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from apps_registry.models import App
from audit.actions import ActorType
from audit.models import AuditEvent
from consent.catalog import CATALOG, SERVICES
from consent.models import Grant, GrantChange
from consent.services import grant_revoke


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` rows (``SELECT COUNT(*) FROM (... LIMIT cap+1)``): an exact
    count of a million-row table costs more than the page itself."""

    cap = 10_000

    @cached_property
    def count(self):
        # No ORDER BY in the count: the filter's own index answers it (an index-only scan),
        # instead of walking the ordering index until cap+1 matching rows are found.
        return self.object_list.order_by()[: self.cap + 1].count()


# --- audit events ----------------------------------------------------------------------------


class ServiceFilter(admin.SimpleListFilter):
    # A fixed list from the catalog: AllValuesFieldListFilter would SELECT DISTINCT the table.
    title = "service"
    parameter_name = "service"

    def lookups(self, request, model_admin):
        return [(s.id, s.name) for s in SERVICES.values()]

    def queryset(self, request, queryset):
        return queryset.filter(service=self.value()) if self.value() else queryset


class AppFilter(admin.SimpleListFilter):
    title = "app"
    parameter_name = "app"

    def lookups(self, request, model_admin):
        return [
            (str(pk), name) for pk, name in App.objects.order_by("name").values_list("pk", "name")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(app_id=int(value))
        return queryset


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell that starts like a formula is run by spreadsheets (CSV injection): neutralise it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing is added, changed or deleted here: the log is append-only and grants change only
    through consent's services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _Echo:
    def write(self, value):
        return value


CSV_FIELDS = (
    "id", "occurred_at", "action", "outcome", "actor_type", "actor_label", "subject_label",
    "app_label", "grant_id", "service", "scope", "resource", "background", "reason",
    "request_id", "source_ip", "hash",
)  # fmt: skip


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    change_list_template = "admin/audit/auditevent/change_list.html"
    list_display = (
        "occurred_at", "action", "outcome", "actor_type", "actor_label", "subject_label",
        "app_label", "service", "scope", "resource", "background",
    )  # fmt: skip
    list_filter = ("action", "outcome", ServiceFilter, "actor_type", AppFilter)
    date_hierarchy = "occurred_at"
    search_fields = ("subject_label", "resource")  # shows the box; the search itself is below
    search_help_text = (
        "A person's e-mail address (or its beginning), or the beginning of a resource "
        "(octo/docs, C0123ABC)."
    )
    ordering = ("-occurred_at",)
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = None
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        people = list(
            get_user_model()
            .objects.filter(email__istartswith=term.lower())
            .values_list("pk", flat=True)[:200]
        )
        # Each branch is an index: the resource prefix, and the people's ids (subject, actor).
        query = Q(resource__startswith=term)
        if people:
            query |= Q(subject_user_id__in=people) | Q(actor_user_id__in=people)
        elif "@" in term:
            # Someone no longer in the user table: their events keep the address as a label.
            query |= Q(subject_label=term.lower())
        return queryset.filter(query), False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def export_csv(self, request):
        """The current filtered and searched view, every row, streamed as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.queryset.values_list(*CSV_FIELDS)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_FIELDS)
            for row in queryset.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(value) for value in row])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
        return response


# --- grants ----------------------------------------------------------------------------------


class GrantChangeInline(admin.TabularInline):
    model = GrantChange
    extra = 0
    can_delete = False
    fields = ("changed_at", "actor", "reason", "before", "after")
    readonly_fields = fields
    ordering = ("-changed_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [(name, name) for name in CATALOG]

    def queryset(self, request, queryset):
        if self.value() in CATALOG:
            # JSON text contains the quoted name: portable (SQLite has no JSON containment).
            return queryset.alias(scopes_text=Cast("scopes", TextField())).filter(
                scopes_text__contains=f'"{self.value()}"'
            )
        return queryset


class BulkRevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=True,
        strip=True,
        widget=forms.Textarea({"rows": 3}),
        help_text="Recorded on each grant and in the audit log; the people concerned see it.",
    )


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    change_list_template = "admin/consent/grant/change_list.html"
    list_display = (
        "user_email", "app_name", "scope_list", "resource_count", "background_flag",
        "unattended_flag", "created_at", "expires_at", "last_used_at", "revoked_at",
    )  # fmt: skip
    list_select_related = ("user", "app")
    list_filter = (LiveFilter, ScopeFilter, "duration", "app")
    search_fields = ("user__email", "app__name")
    search_help_text = "A person's e-mail, an app's name, a service (github) or a scope name."
    ordering = ("-updated_at",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ("revoke_selected",)
    inlines = (GrantChangeInline,)
    readonly_fields = (
        "user", "app", "scopes", "connections", "resources", "duration", "expires_at",
        "created_at", "updated_at", "last_used_at", "revoked_at", "revoke_reason",
    )  # fmt: skip

    # Read-only (ReadOnlyAdmin): grants change only through consent's services (the consent
    # screen, the dashboard, the bulk revoke below); the form would bypass the audit trail.

    def has_revoke_permission(self, request):
        return request.user.has_perm("consent.change_grant")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # A service ("github") or scope ("services.slack.messages.write") is matched in the
        # grant's scopes and connections, portably as JSON text (SQLite has no containment).
        queryset = queryset.alias(
            scopes_text=Cast("scopes", TextField()),
            connections_text=Cast("connections", TextField()),
        ).filter(
            Q(user__email__icontains=term)
            | Q(app__name__icontains=term)
            | Q(scopes_text__icontains=term)
            | Q(connections_text__icontains=f'"{term}"')
        )
        return queryset, False

    @admin.display(description="person", ordering="user__email")
    def user_email(self, grant):
        return grant.user.email

    @admin.display(description="app", ordering="app__name")
    def app_name(self, grant):
        return grant.app.name

    @admin.display(description="scopes")
    def scope_list(self, grant):
        # One per line and without the common prefix: the table fits 1280 px.
        return format_html_join(
            mark_safe("<br>"),
            "<code>{}</code>",
            ((s.removeprefix("services."),) for s in grant.scopes),
        )

    @admin.display(description="resources")
    def resource_count(self, grant):
        return sum(len(items) for items in grant.resources.values())

    @admin.display(description="background", boolean=True)
    def background_flag(self, grant):
        return grant.background

    @admin.display(description="unattended writes", boolean=True)
    def unattended_flag(self, grant):
        return grant.unattended_writes

    @admin.action(description="Revoke the selected grants…", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        form = BulkRevokeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            reason = form.cleaned_data["reason"]
            count = 0
            for grant in queryset.select_related("app", "user"):
                if grant.revoked_at is None:
                    grant_revoke(
                        grant=grant, actor=request.user, reason=reason, actor_type=ActorType.STAFF
                    )
                    count += 1
            self.message_user(request, f"{count} grant(s) revoked.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/access/grant_bulk_revoke.html",
            {
                **self.admin_site.each_context(request),
                "title": "Revoke grants",
                "opts": self.opts,
                "grants": queryset.select_related("app", "user"),
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "action": "revoke_selected",
            },
        )


@admin.register(GrantChange)
class GrantChangeAdmin(ReadOnlyAdmin):
    list_display = ("grant", "changed_at", "actor", "reason")
    list_select_related = ("grant__user", "grant__app", "actor")
    search_fields = ("grant__user__email", "grant__app__name", "reason")
    date_hierarchy = "changed_at"
    show_full_result_count = False
    readonly_fields = ("grant", "changed_at", "actor", "reason", "before", "after")
