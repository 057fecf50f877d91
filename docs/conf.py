"""Sphinx configuration for django-twitter-oauth's documentation.

Builds from ``pip install .[docs]`` alone (as Read the Docs does): Django is configured
here with only what autodoc needs, never with the test suite's settings.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from sphinx.ext.intersphinx import missing_reference

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.messages",
            "django.contrib.sessions",
            "django_twitter_oauth",
            "django_twitter_oauth.sandbox",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="docs-build-only",  # noqa: S106
        FERNET_KEYS=["docs-build-only"],
        TWITTER_OAUTH_CONSUMER_KEY="docs",
        TWITTER_OAUTH_CONSUMER_SECRET="docs",  # noqa: S106
        USE_TZ=True,
    )
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
# No default "members": a default of True would override the explicit ``:members:``
# lists of api.rst, which name exactly each module's ``__all__`` (Sphinx 9 documents the
# members of the classes in those lists all the same).
autodoc_default_options = {"show-inheritance": True}
# A class without a docstring gets its description in api.rst, not its base class's
# (TwitterBackend is not "Authenticates against settings.AUTH_USER_MODEL").
autodoc_inherit_docstrings = False


def _tasks_importable() -> bool:
    try:
        import django.tasks  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        try:
            import django_tasks  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            return False
    return True


# On Django 5.2 without the tasks extra (``pip install .[docs]`` alone), tasks.py cannot
# import its ``@task`` decorator; a mock lets its page build all the same.
autodoc_mock_imports = [] if _tasks_importable() else ["django_tasks"]

# No network on the build machines: the inventories under _inventories/ come first
# (from Debian's python3.11-doc, python-django-doc and python-requests-doc packages);
# the sites are the fallback, and where the links point.
INVENTORIES = Path(__file__).resolve().parent / "_inventories"
intersphinx_mapping: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "python": ("https://docs.python.org/3", (str(INVENTORIES / "python.inv"), None)),
    "django": (
        "https://docs.djangoproject.com/en/5.2/",
        (str(INVENTORIES / "django.inv"), "https://docs.djangoproject.com/en/5.2/_objects/"),
    ),
    "requests": (
        "https://requests.readthedocs.io/en/latest/",
        (str(INVENTORIES / "requests.inv"), None),
    ),
    "requests-oauthlib": (
        "https://requests-oauthlib.readthedocs.io/en/latest/",
        (str(INVENTORIES / "requests-oauthlib.inv"), None),
    ),
}
intersphinx_timeout = 5

#: Names as Python spells them (the defining module, or a short name in an annotation)
#: and as the documentation that describes them does.
ALIASES = {
    "dt.datetime": "datetime.datetime",
    "django.http.request.HttpRequest": "django.http.HttpRequest",
    "django.db.models.base.Model": "django.db.models.Model",
    "django.dispatch.dispatcher.Signal": "django.dispatch.Signal",
    "django.http.response.HttpResponse": "django.http.HttpResponse",
    "django.template.context.Context": "django.template.Context",
    "django.core.checks.messages.CheckMessage": "django.core.checks.CheckMessage",
    "django.apps.config.AppConfig": "django.apps.AppConfig",
    "OAuth1Session": "requests_oauthlib.OAuth1Session",
    "requests_oauthlib.oauth1_session.OAuth1Session": "requests_oauthlib.OAuth1Session",
    "Store": "django_twitter_oauth.testing.store.Store",
    "store.Store": "django_twitter_oauth.testing.store.Store",
    "ConnectionFault": "django_twitter_oauth.testing.provider.ConnectionFault",
    "TimeoutFault": "django_twitter_oauth.testing.provider.TimeoutFault",
    "django_twitter_oauth.testing.FakeTwitter": "django_twitter_oauth.testing.fake.FakeTwitter",
}
nitpick_ignore = [
    # Django documents its enumeration types in prose, not as objects to link to.
    ("py:class", "django.db.models.enums.TextChoices"),
    # django-fernet-fields-v2 publishes no object inventory.
    ("py:class", "fernet_fields.fields.EncryptedTextField"),
    # Internal names the docstrings mention for the curious reader (not in __all__).
    ("py:data", "MAX_RATE_LIMIT_WAITS"),
    ("py:data", "RETRY_BACKOFF"),
    ("py:class", "FakeValidator"),
    # Django documents the base user class in prose (customizing authentication).
    ("py:class", "django.contrib.auth.base_user.AbstractBaseUser"),
    # django-stubs' name for what gettext_lazy returns (a lazy translation).
    ("py:class", "_StrPromise"),
    # with_users()' type variable (a queryset of any of the app's models).
    ("py:class", "django_twitter_oauth.models._Q"),
]

html_theme = "furo"
html_title = "django-twitter-oauth"
exclude_patterns = ["_build"]
nitpicky = True


def resolve_alias(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Retry a reference that did not resolve under the name its documentation uses."""
    target = ALIASES.get(node.get("reftarget", ""))
    if target is None:
        return None
    node["reftarget"] = target
    domain = env.get_domain("py")
    resolved = domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )
    if resolved is None:
        resolved = missing_reference(app, env, node, contnode)
    return resolved


def setup(app: Any) -> None:
    app.connect("missing-reference", resolve_alias, priority=900)
