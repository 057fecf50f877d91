"""The test settings with the app's tables in a second PostgreSQL database, "tokens",
reached as a role that has no rights on the "default" database (tests/routers.py
creates it): ``DATABASE_URL=postgres://... DJANGO_SETTINGS_MODULE=tests.settings_second_db
python -m pytest`` (``make test-second-db``). PostgreSQL only.

TOKENS_DATABASE_URL, when set, is the "tokens" database (a subprocess of a test gets
the test databases this way, see tests/utils.manage_env); by default it is the
DATABASE_URL's server and database name, with the tokens role's credentials."""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

from tests.routers import TOKENS, TOKENS_PASSWORD, TOKENS_ROLE
from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

_default = DATABASES["default"]
assert _default["ENGINE"] == "django.db.backends.postgresql", "DATABASE_URL: PostgreSQL"
_tokens: dict[str, Any] = (
    dict(dj_database_url.parse(os.environ["TOKENS_DATABASE_URL"]))
    if os.environ.get("TOKENS_DATABASE_URL")
    else {**_default, "USER": TOKENS_ROLE, "PASSWORD": TOKENS_PASSWORD, "TEST": {}}
)
# Its own test database, next to the default one (test_x -> test_x_tokens).
_tokens["TEST"] = {"NAME": f"{_default['TEST'].get('NAME') or 'test_' + _default['NAME']}_tokens"}
DATABASES = {"default": _default, TOKENS: _tokens}
DATABASE_ROUTERS = ["tests.routers.TokensRouter"]
