"""The package keeps the shape docs/architecture.rst describes: every module is in the
module map, no import goes to a higher layer, only client.py (and testing/) imports an
HTTP library, and the app does not import its test tools. Imports are read with ``ast``
from the source, so nothing is imported to check them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils import ROOT

PACKAGE = "django_twitter_oauth"
#: Libraries that speak HTTP; only client.py may use them (testing/ answers them).
HTTP_LIBRARIES = {"requests", "requests_oauthlib"}
HTTP_ALLOWED = ("client", "testing.*")
#: The test tools, and who may import them.
TOOLS = ("testing.*", "sandbox.*")

_ROW = re.compile(r"^``([\w.*]+)``\s+(\d+)\s+\S")


def module_map(text: str) -> dict[str, int]:
    """The map's rows: module name or ``package.*`` pattern -> layer."""
    rows = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            name = match[1].removeprefix(PACKAGE).removeprefix(".")
            rows[name] = int(match[2])
    return rows


def matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        package = pattern[:-2]
        return module == package or module.startswith(package + ".")
    return module == pattern


def layer(module: str, rows: dict[str, int]) -> int | None:
    """The layer of ``module`` (relative name; "" is the package itself)."""
    for pattern, number in rows.items():
        if matches(module, pattern):
            return number
    return None


def package_sources() -> Iterator[tuple[str, str]]:
    """(relative module name, source) of every module of the package."""
    root = ROOT / PACKAGE
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path.read_text()


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                found.update(id(inner) for inner in ast.walk(child))
    return found


def imports(source: str, modules: set[str]) -> Iterator[tuple[str, bool]]:
    """(what is imported, type only?) for every import in ``source``: modules of the
    package by relative name (``from django_twitter_oauth import flow`` is ``flow``),
    others by their top-level name."""
    tree = ast.parse(source)
    type_only = _type_only(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                relative = name.removeprefix(PACKAGE).removeprefix(".")
                if relative in modules:
                    yield relative, id(node) in type_only
            elif name == getattr(node, "module", None) or isinstance(node, ast.Import):
                yield name.split(".")[0], id(node) in type_only


def violations(sources: dict[str, str], rows: dict[str, int]) -> list[str]:
    """Every way ``sources`` (relative module name -> source) break the rules."""
    found = []
    modules = set(sources)
    for module, source in sorted(sources.items()):
        own = layer(module, rows)
        if own is None:
            found.append(f"{module or PACKAGE}: not in docs/architecture.rst's module map")
            continue
        for target, type_only in sorted(set(imports(source, modules))):
            if target in modules:
                if target == module:
                    continue
                their = layer(target, rows)
                if their is not None and their > own:
                    found.append(f"{module} (layer {own}) imports {target} (layer {their})")
                if any(matches(target, tool) for tool in TOOLS) and not any(
                    matches(module, tool) for tool in TOOLS
                ):
                    found.append(f"{module} imports the test tool {target}")
            elif (
                target in HTTP_LIBRARIES
                and not type_only
                and not any(matches(module, allowed) for allowed in HTTP_ALLOWED)
            ):
                found.append(f"{module} imports {target}: only client.py speaks HTTP")
    return found


@pytest.fixture(scope="module")
def rows() -> dict[str, int]:
    return module_map((ROOT / "docs" / "architecture.rst").read_text())


def test_the_package_follows_the_documented_architecture(rows: dict[str, int]) -> None:
    assert violations(dict(package_sources()), rows) == []


def test_the_map_covers_the_documented_modules(rows: dict[str, int]) -> None:
    assert {"", "conf", "client", "models", "flow", "revocation", "views", "testing.*"} <= set(rows)
    assert rows["client"] < rows["models"] < rows["revocation"] < rows["flow"] < rows["views"]


# The checker itself: each rule catches what it is there for.

MAP = {"": 0, "conf": 0, "client": 1, "models": 2, "flow": 4, "views": 5, "testing.*": 5}


def check(**sources: str) -> list[str]:
    return violations({name.replace("__", "."): text for name, text in sources.items()}, MAP)


def test_upward_imports_are_caught() -> None:
    assert check(
        client="from django_twitter_oauth.models import AccessToken\n",
        models="import django_twitter_oauth.flow\n",
        flow="def f():\n    from django_twitter_oauth import views\n",
        views="",
    ) == [
        "client (layer 1) imports models (layer 2)",
        "flow (layer 4) imports views (layer 5)",
        "models (layer 2) imports flow (layer 4)",
    ]


def test_downward_imports_and_names_that_are_not_modules_pass() -> None:
    assert (
        check(
            views="from django_twitter_oauth import flow\nimport django_twitter_oauth.conf\n",
            flow="from django_twitter_oauth.models import AccessToken\n",
            models="from django_twitter_oauth import client, __version__\nimport os.path\n",
            client="from django_twitter_oauth.conf import app_settings\nimport requests\n",
            conf="",
            testing__fake="import requests\nimport responses\n",
            **{"": "__version__ = '1'\n"},
        )
        == []
    )


def test_http_libraries_outside_the_client_are_caught() -> None:
    assert check(
        flow="import requests\n",
        models=(
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from requests_oauthlib import OAuth1Session\n"
        ),
        views="from requests_oauthlib import OAuth1Session\n",
    ) == [
        "flow imports requests: only client.py speaks HTTP",
        "views imports requests_oauthlib: only client.py speaks HTTP",
    ]


def test_the_app_importing_its_test_tools_is_caught() -> None:
    assert check(
        views="from django_twitter_oauth.testing import fake\n",
        testing="",
        testing__fake="from django_twitter_oauth.testing import provider\n",
        testing__provider="",
    ) == ["views imports the test tool testing", "views imports the test tool testing.fake"]


def test_a_module_missing_from_the_map_is_caught() -> None:
    assert check(rotation="", views="from django_twitter_oauth import rotation\n") == [
        "rotation: not in docs/architecture.rst's module map"
    ]


def test_the_map_is_read_from_the_table() -> None:
    text = Path(ROOT / "docs" / "architecture.rst").read_text()
    rows = module_map(text + "\n``django_twitter_oauth.extra.*``    3      something\n")
    assert rows["extra.*"] == 3
    assert layer("extra.deep.module", rows) == 3
    assert layer("extras", rows) is None
