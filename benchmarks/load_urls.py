"""URLs for benchmarks/load.py: the example project's, and the floor under ``/floor/``."""

from __future__ import annotations

from django.urls import include, path
from example.urls import urlpatterns as example_urlpatterns

urlpatterns = [*example_urlpatterns, path("floor/", include("benchmarks.floor.urls"))]
