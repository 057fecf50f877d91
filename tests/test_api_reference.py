"""docs/api.rst and the code cannot drift: each public module's ``__all__`` is exactly
what the API reference documents for it.

The reference names every documented object itself: ``.. automodule:: X`` with an
explicit ``:members: a, b`` list, or ``:no-members:`` followed by ``.. autoclass::``,
``.. autofunction::``, ``.. autodata::`` ... directives. A bare ``:members:`` would let
autodoc pick (and silently leave out a name without a docstring), so it is refused.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest
from sphinx.pycode import ModuleAnalyzer

import django_twitter_oauth

API_RST = Path(__file__).resolve().parent.parent / "docs" / "api.rst"
PACKAGE = django_twitter_oauth.__name__

MODULE_DIRECTIVE = re.compile(r"^\.\. (?:py:)?(automodule|currentmodule|module)::\s*(\S+)\s*$")
OBJECT_DIRECTIVE = re.compile(
    r"^\.\. (?:py:)?(?:auto)?(?:class|function|data|exception|decorator)::\s*([\w.]+)"
)
OPTION = re.compile(r"^\s+:([\w-]+):\s*(.*)$")


class UnclearReference(ValueError):
    """docs/api.rst says something the parser will not guess about."""


def documented_names(text: str) -> dict[str, list[str]]:
    """Module -> the names api.rst documents at its top level, in order.

    ``:members: a, b`` of an ``automodule`` counts for that module; an ``auto*``
    directive counts for its dotted module, or for the current module (the last
    ``automodule`` / ``currentmodule``) when its name is bare. Directives nested under
    a class (indented) document members, not module names, and are not counted.
    """
    names: dict[str, list[str]] = {}
    lines = text.splitlines()
    current: str | None = None
    for index, line in enumerate(lines):
        module_match = MODULE_DIRECTIVE.match(line)
        if module_match:
            kind, current = module_match.groups()
            names.setdefault(current, [])
            if kind == "automodule":
                names[current].extend(_automodule_members(current, lines[index + 1 :]))
            continue
        object_match = OBJECT_DIRECTIVE.match(line)
        if object_match:
            target = object_match.group(1)
            if target.startswith(f"{PACKAGE}."):
                module, _, name = target.rpartition(".")
            elif current is None:
                raise UnclearReference(f"{target!r} comes before any module directive")
            else:
                module, name = current, target
            names.setdefault(module, []).append(name)
    return names


def _automodule_members(module: str, following: list[str]) -> list[str]:
    options: dict[str, str] = {}
    last = None
    for line in following:
        option = OPTION.match(line)
        if option:
            last = option.group(1)
            options[last] = option.group(2).strip()
        elif last is not None and line.startswith("    ") and line.strip():
            options[last] += " " + line.strip()  # a long value continues, indented
        else:
            break
    if "no-members" in options:
        return []
    members = options.get("members")
    if not members:
        raise UnclearReference(
            f"automodule {module}: list the members (``:members: a, b``) or say "
            "``:no-members:``; autodoc's own choice leaves out names without a docstring"
        )
    return [name.strip() for name in members.split(",") if name.strip()]


def public_modules() -> list[ModuleType]:
    """Every module of the package a site may import from: not private (a leading
    underscore), not migrations or management commands, and not a package that only
    groups modules (an ``__init__`` with no public name)."""
    found = []
    for info in pkgutil.walk_packages(django_twitter_oauth.__path__, f"{PACKAGE}."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or {
            "migrations",
            "management",
        } & set(parts):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg and not any(
            not name.startswith("_") and not isinstance(value, ModuleType)
            for name, value in vars(module).items()
        ):
            continue
        found.append(module)
    return found


def drift(module: ModuleType, documented: dict[str, list[str]]) -> list[str]:
    """What is wrong between ``module.__all__`` and the reference: empty when they agree.

    A name the module re-exports from another public module is documented once, where
    it is defined, and the re-exporting module's section does not list it again.
    """
    exported = getattr(module, "__all__", None)
    if exported is None:
        return [f"{module.__name__} has no __all__"]
    problems = [
        f"{module.__name__}.{name} is in __all__ but not defined"
        for name in exported
        if not hasattr(module, name)
    ]
    own = {name for name in exported if _defined_in(module, name) == module.__name__}
    listed = documented.get(module.__name__, [])
    problems += [
        f"{module.__name__}.{name} is documented twice"
        for name in sorted(set(listed))
        if listed.count(name) > 1
    ]
    problems += [
        f"{module.__name__}.{name} is public but not in docs/api.rst"
        for name in sorted(own - set(listed))
    ]
    problems += [
        f"{module.__name__}.{name} is in docs/api.rst but not in __all__"
        for name in sorted(set(listed) - own)
    ]
    for name in sorted(set(exported) - own):
        home = _defined_in(module, name)
        if name not in documented.get(home, []):
            problems.append(f"{module.__name__}.{name} (from {home}) is not documented there")
    return problems


def _defined_in(module: ModuleType, name: str) -> str:
    value = getattr(module, name, None)
    home = getattr(value, "__module__", None)
    if (inspect.isclass(value) or inspect.isroutine(value)) and isinstance(home, str):
        return home
    return module.__name__


def undocumented_members(text: str) -> list[str]:
    """Names listed in an automodule's ``:members:`` that autodoc would drop (no
    docstring, no ``#:`` comment) or describe with an inherited docstring: those
    need their own directive with a description in api.rst."""
    missing = []
    for module_name, names in _members_lists(text).items():
        module = importlib.import_module(module_name)
        attribute_docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        for name in names:
            value = getattr(module, name)
            if inspect.isclass(value):
                doc = vars(value).get("__doc__") or ""
                # A dataclass without a docstring gets its signature as one.
                has_doc = bool(doc) and not doc.startswith(f"{name}(")
            elif inspect.isroutine(value):
                has_doc = bool(value.__doc__)
            else:
                has_doc = ("", name) in attribute_docs
            if not has_doc:
                missing.append(f"{module_name}.{name}")
    return missing


def _members_lists(text: str) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = MODULE_DIRECTIVE.match(line)
        if match and match.group(1) == "automodule":
            lists[match.group(2)] = _automodule_members(match.group(2), lines[index + 1 :])
    return lists


# -- the reference as it is --


def test_every_public_module_is_documented_as_its_all_says() -> None:
    text = API_RST.read_text()
    documented = documented_names(text)
    modules = public_modules()
    assert f"{PACKAGE}.client" in {module.__name__ for module in modules}
    problems = [problem for module in modules for problem in drift(module, documented)]
    assert problems == []


def test_the_reference_documents_no_module_that_is_not_public() -> None:
    public = {module.__name__ for module in public_modules()}
    # The sandbox package is documented (its docstring says how to install it) though it
    # exports nothing itself.
    extra = set(documented_names(API_RST.read_text())) - public - {f"{PACKAGE}.sandbox"}
    assert extra == set()


def test_every_listed_member_has_a_docstring_autodoc_shows() -> None:
    assert undocumented_members(API_RST.read_text()) == []


def test_private_and_internal_modules_are_left_out() -> None:
    names = {module.__name__ for module in public_modules()}
    assert f"{PACKAGE}.migrations.0001_initial" not in names
    assert not any(".management" in name for name in names)
    assert PACKAGE not in names  # only __version__
    assert f"{PACKAGE}.testing" in names  # re-exports the fakes


# -- the parser and the comparison can fail --

SAMPLE = f"""
Client
------

.. automodule:: {PACKAGE}.client
   :members: TwitterClient, TwitterAPI,
             TwitterSession
   :show-inheritance:

.. autoclass:: RequestTokenResult

.. autoclass:: {PACKAGE}.client.AccessTokenResult
   :members:

   .. autoproperty:: nested_is_not_a_module_name

.. automodule:: {PACKAGE}.conf
   :no-members:

.. autodata:: app_settings
   :no-value:

.. currentmodule:: {PACKAGE}.flow

.. autofunction:: begin
"""


def test_the_parser_reads_members_lists_and_directives() -> None:
    assert documented_names(SAMPLE) == {
        f"{PACKAGE}.client": [
            "TwitterClient",
            "TwitterAPI",
            "TwitterSession",
            "RequestTokenResult",
            "AccessTokenResult",
        ],
        f"{PACKAGE}.conf": ["app_settings"],
        f"{PACKAGE}.flow": ["begin"],
    }


@pytest.mark.parametrize(
    "text",
    [
        f".. automodule:: {PACKAGE}.flow\n\n",
        f".. automodule:: {PACKAGE}.flow\n   :members:\n",
        ".. autofunction:: begin\n",
    ],
)
def test_the_parser_refuses_what_it_would_have_to_guess(text: str) -> None:
    with pytest.raises(UnclearReference):
        documented_names(text)


def test_a_name_added_to_all_but_not_to_the_docs_is_caught() -> None:
    from django_twitter_oauth import client

    documented = documented_names(SAMPLE)
    documented[f"{PACKAGE}.client"].append("Credentials")
    assert drift(client, documented) == []
    documented[f"{PACKAGE}.client"].remove("TwitterSession")
    assert drift(client, documented) == [
        f"{PACKAGE}.client.TwitterSession is public but not in docs/api.rst"
    ]


def test_a_name_documented_but_not_in_all_is_caught() -> None:
    from django_twitter_oauth import client

    documented = documented_names(SAMPLE + f".. autoclass:: {PACKAGE}.client.logger\n")
    documented[f"{PACKAGE}.client"] += ["Credentials", "Credentials"]
    assert drift(client, documented) == [
        f"{PACKAGE}.client.Credentials is documented twice",
        f"{PACKAGE}.client.logger is in docs/api.rst but not in __all__",
    ]


def test_a_module_without_all_or_with_a_stale_name_is_caught() -> None:
    module = ModuleType(f"{PACKAGE}.example")
    assert drift(module, {}) == [f"{PACKAGE}.example has no __all__"]
    module.__all__ = ["gone"]  # type: ignore[attr-defined]
    assert drift(module, {f"{PACKAGE}.example": ["gone"]}) == [
        f"{PACKAGE}.example.gone is in __all__ but not defined",
    ]


def test_a_re_export_must_be_documented_where_it_is_defined() -> None:
    from django_twitter_oauth import testing

    assert drift(testing, {}) == [
        f"{PACKAGE}.testing.{name} (from {home}) is not documented there"
        for name, home in [
            ("FakeCall", f"{PACKAGE}.testing.fake"),
            ("FakeProvider", f"{PACKAGE}.testing.provider"),
            ("FakeResponse", f"{PACKAGE}.testing.provider"),
            ("FakeTwitter", f"{PACKAGE}.testing.fake"),
            ("Fault", f"{PACKAGE}.testing.provider"),
        ]
    ]


def test_a_listed_member_without_a_docstring_is_caught() -> None:
    text = f".. automodule:: {PACKAGE}.models\n   :members: AccessToken, AccessTokenQuerySet\n"
    assert undocumented_members(text) == [f"{PACKAGE}.models.AccessTokenQuerySet"]
    text = f".. automodule:: {PACKAGE}.conf\n   :members: app_settings\n"
    assert undocumented_members(text) == [f"{PACKAGE}.conf.app_settings"]
    text = f".. automodule:: {PACKAGE}.flow\n   :members: Begun, Disconnected\n"
    assert undocumented_members(text) == [f"{PACKAGE}.flow.Disconnected"]
    text = f".. automodule:: {PACKAGE}.signals\n   :members: token_revoked\n"
    assert undocumented_members(text) == []


# -- settings.rst: a table linking each setting to its entry and its checks' anchors --

DOCS = API_RST.parent
SETTING_ROW = re.compile(r"^   \* - :ref:`(\w+) <setting-(\w+)>`$")
CHECK_REF = re.compile(r":ref:`([EW]\d{3}) <check-twitter_oauth\.([EW]\d{3})>`")
ANCHOR = re.compile(r"^\.\. _([\w.-]+):$", re.MULTILINE)


def settings_table(text: str) -> dict[str, list[str]]:
    """Setting -> the check IDs its table row links to (name, type, default, checks)."""
    rows: dict[str, list[str]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        row = SETTING_ROW.match(line)
        if row:
            name, target = row.groups()
            assert name == target, f"the row of {name} links to setting-{target}"
            cells = lines[index + 1 : index + 4]
            assert all(cell.startswith("     - ") for cell in cells), f"row of {name}"
            rows[name] = []
            for shown, target in CHECK_REF.findall(cells[-1]):
                assert shown == target, f"the row of {name} shows {shown}, links to {target}"
                rows[name].append(target)
    return rows


def settings_entries(text: str) -> dict[tuple[str, ...], list[str]]:
    """The prose below the table: the settings each entry describes -> the check IDs
    its text names."""
    entries: dict[tuple[str, ...], list[str]] = {}
    current: tuple[str, ...] | None = None
    for line in text.splitlines():
        if line.startswith("``"):
            current = tuple(re.findall(r"``([A-Z_]+)``", line))
            entries[current] = []
        elif current is not None and line.startswith("    "):
            entries[current] += re.findall(r"``twitter_oauth\.([EW]\d{3})``", line)
        elif line.strip():
            current = None
    return entries


def table_drift(text: str) -> list[str]:
    """Where the table and the entries below it disagree: empty when they agree."""
    table = settings_table(text)
    problems = []
    for names, ids in settings_entries(text).items():
        in_table = sorted({i for name in names for i in table.get(name, [])})
        if sorted(set(ids)) != in_table:
            problems.append(f"{', '.join(names)}: the entry names {ids}, the table {in_table}")
    return problems


def all_settings() -> list[str]:
    from django_twitter_oauth.conf import Settings

    names = [name for name, value in vars(Settings).items() if isinstance(value, property)]
    return [f"TWITTER_OAUTH_{name}" for name in names] + ["FERNET_KEYS", "FERNET_USE_HKDF"]


def test_every_setting_has_an_anchor_and_a_table_row() -> None:
    text = (DOCS / "settings.rst").read_text()
    anchors = set(ANCHOR.findall(text))
    assert [n for n in all_settings() if f"setting-{n}" not in anchors] == []
    assert sorted(settings_table(text)) == sorted(all_settings())


def test_the_settings_table_names_the_checks_each_entry_names() -> None:
    assert table_drift((DOCS / "settings.rst").read_text()) == []


def test_every_check_id_has_an_anchor_the_table_can_link_to() -> None:
    from django_twitter_oauth import checks

    ids = set(re.findall(r"\b([EW]\d{3})\b", inspect.getsource(checks)))
    anchors = set(ANCHOR.findall((DOCS / "checks.rst").read_text()))
    assert sorted(i for i in ids if f"check-twitter_oauth.{i}" not in anchors) == []
    linked = {
        i for row in settings_table((DOCS / "settings.rst").read_text()).values() for i in row
    }
    assert linked <= ids


def test_a_table_that_disagrees_with_its_entries_is_caught() -> None:
    text = """
   * - :ref:`TWITTER_OAUTH_TIMEOUT <setting-TWITTER_OAUTH_TIMEOUT>`
     - number
     - ``10``
     - :ref:`E007 <check-twitter_oauth.E007>`

``TWITTER_OAUTH_TIMEOUT``
    *number*. Checks: ``twitter_oauth.E007``,
    ``twitter_oauth.E099``.
"""
    assert settings_table(text) == {"TWITTER_OAUTH_TIMEOUT": ["E007"]}
    assert table_drift(text) == [
        "TWITTER_OAUTH_TIMEOUT: the entry names ['E007', 'E099'], the table ['E007']"
    ]
    assert table_drift(text.replace("E099", "E007")) == []
    with pytest.raises(AssertionError, match="shows E008"):
        settings_table(text.replace("`E007 <", "`E008 <"))
