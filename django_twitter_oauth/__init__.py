"""Twitter (X) 3-legged OAuth 1.0a for Django, with tokens encrypted at rest."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
