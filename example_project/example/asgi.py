"""ASGI entry point: ``uvicorn example.asgi:application`` (from example_project/)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

application = get_asgi_application()
if settings.DEBUG:
    # The static files runserver would serve (the admin's CSS), for local use; in
    # production a proxy or WhiteNoise serves them (docs/deployment.rst).
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
