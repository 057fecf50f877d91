"""The custom user model in the admin, as a site with it registers it: the deletion
tests delete users through the admin's changelist."""

from __future__ import annotations

from django.contrib import admin

from tests.custom_user.models import EmailUser


@admin.register(EmailUser)
class EmailUserAdmin(admin.ModelAdmin[EmailUser]):
    list_display = ("email", "is_staff", "is_active")
    search_fields = ("email",)
    ordering = ("email",)
