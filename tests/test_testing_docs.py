"""The examples of docs/testing.rst run as they are written: each ``def test_...`` in a
Python code block is executed here, with the pytest fixtures it names."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.rst"
BLOCK = re.compile(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)")


def examples() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for block in BLOCK.findall(DOC.read_text()):
        code = textwrap.dedent(block)
        if "def test_" not in code:
            continue
        namespace: dict[str, Any] = {}
        # The documentation's own code, run as a test of it.
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
        found.update({k: v for k, v in namespace.items() if k.startswith("test_")})
    return found


EXAMPLES = examples()


def test_the_examples_are_found() -> None:
    assert {"test_sign_in", "test_my_code_posts_a_tweet", "test_my_signed_call"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_documented_example_runs(name: str, request: pytest.FixtureRequest) -> None:
    example = EXAMPLES[name]
    fixtures = {p: request.getfixturevalue(p) for p in inspect.signature(example).parameters}
    example(**fixtures)
