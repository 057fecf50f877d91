"""The site's admin for access tokens: the app's AccessTokenAdmin with fewer columns,
so the changelist (and the verify results) fit a 1400 px window without scrolling
sideways. A site re-registers the app's ModelAdmin subclass the same way."""

from __future__ import annotations

from django.contrib import admin

# Imported first, so that the app's registration exists to be replaced (this app's
# admin module is discovered before the app's, as INSTALLED_APPS lists it first).
from django_twitter_oauth.admin import AccessTokenAdmin
from django_twitter_oauth.models import AccessToken

admin.site.unregister(AccessToken)


@admin.register(AccessToken)
class SiteAccessTokenAdmin(AccessTokenAdmin):
    # The Twitter id and the permission string are on each token's page; the
    # "current permission" column says whether the token is stale.
    list_display = (
        "screen_name",
        "user",
        "access_level",
        "current_permission",
        "created_at",
        "verified_at",
    )
