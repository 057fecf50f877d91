"""The ASGI application uvicorn serves in benchmarks/load.py (the example project has
no asgi.py): Django's own, with the settings the script names in
DJANGO_SETTINGS_MODULE (benchmarks.load_settings)."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

application = get_asgi_application()
