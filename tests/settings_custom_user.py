"""The test settings with a custom user model that has no ``username`` field, the
email address as ``USERNAME_FIELD`` and a UUID primary key (tests/custom_user):
``DJANGO_SETTINGS_MODULE=tests.settings_custom_user python -m pytest``
(``make test-custom-user``)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.custom_user"]
AUTH_USER_MODEL = "custom_user.EmailUser"
# What a site with this model does for sign-up without an email from Twitter (the
# built-in refuses then): tests/custom_user/signup.py.
TWITTER_OAUTH_SIGNUP = "tests.custom_user.signup.signup"
