"""pip-audit over the installed dependency set, with an honest summary.

Fails (exit 1) when any installed dependency has a known vulnerability. pip-audit
reports a dependency it could not look up as skipped, not as clean: this script prints
how many were audited and how many skipped, so a run that audited nothing (PyPI's
per-release vulnerability data unreachable, as on the project's CI machine, whose PyPI
mirror serves no per-release JSON) says so instead of passing silently. With
AUDIT_STRICT=1 that case fails too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--skip-editable",
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        print("pip-audit gave no report", file=sys.stderr)
        return 1
    dependencies = report["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d["vulns"]]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']} {dependency['version']}: {ids}")
    print(
        f"pip-audit: {len(dependencies)} installed, {len(audited)} audited, "
        f"{len(skipped)} could not be audited, {len(vulnerable)} vulnerable"
    )
    if vulnerable:
        return 1
    if not audited:
        print(
            "pip-audit audited nothing: the vulnerability service was not reachable "
            f"(first reason: {skipped[0]['skip_reason'] if skipped else 'none'})"
        )
        return 1 if os.environ.get("AUDIT_STRICT") == "1" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
