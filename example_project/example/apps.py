from __future__ import annotations

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "example"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from example import receivers  # noqa: F401  (connects the signal receivers)
