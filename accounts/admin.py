"""Admin for API keys (created here, shown once) and the premium flag on users."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, Profile

User = get_user_model()


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "status")
    list_select_related = ("user",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    # Picked by name as one types; a new key is the editor's own unless they pick someone else.
    autocomplete_fields = ("user",)
    actions = ("revoke",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "user": request.user.pk,
            "name": f"API key created {timezone.localdate():%Y-%m-%d}",
            **super().get_changeform_initial_data(request),
        }

    @admin.display(description="status")
    def status(self, api_key: ApiKey) -> str:
        return "revoked" if api_key.is_revoked() else "active"

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # The owner of an existing key never changes: a new owner gets a new key.
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Made by the service like any key; the admin shows the raw key this once.
        issued = services.create_api_key(user=obj.user, name=obj.name)
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"API key for {obj.user}: {issued.raw_key} — copy it now, it is stored hashed and "
            "will not be shown again.",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        changed = services.revoke_api_keys(key_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Revoked {changed} key(s).", messages.SUCCESS)


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    max_num = 1
    fields = ("is_premium",)


admin.site.unregister(User)


@admin.register(User)
class StreamSiteUserAdmin(UserAdmin):
    inlines = (ProfileInline,)
    list_display = (*UserAdmin.list_display, "premium")
    list_select_related = ("profile",)
    actions = ("make_premium", "make_free")

    @admin.display(boolean=True, description="premium")
    def premium(self, user: Any) -> bool:
        profile = getattr(user, "profile", None)
        return bool(profile and profile.is_premium)

    @admin.action(description="Make selected users premium")
    def make_premium(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        services.set_premium(user_ids=list(queryset.values_list("pk", flat=True)), premium=True)

    @admin.action(description="Make selected users free (not premium)")
    def make_free(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        services.set_premium(user_ids=list(queryset.values_list("pk", flat=True)), premium=False)
