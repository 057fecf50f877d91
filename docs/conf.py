"""Sphinx configuration for django-twitter-oauth's documentation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

import django_twitter_oauth  # noqa: E402

project = "django-twitter-oauth"
author = "the django-twitter-oauth developers"
copyright = "2026, the django-twitter-oauth developers"
release = django_twitter_oauth.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
html_theme = "furo"
html_title = "django-twitter-oauth"
exclude_patterns = ["_build"]
nitpicky = False
