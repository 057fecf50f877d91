from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from django_twitter_oauth.conf import app_settings


def twitter_mode(request: HttpRequest) -> dict[str, object]:
    """Every page says whether the site talks to real Twitter or to the sandbox."""
    return {
        "real_twitter": getattr(settings, "USES_REAL_TWITTER", False),
        "api_url": app_settings.API_URL,
    }
