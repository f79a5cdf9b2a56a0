"""A sample site for one case of the fault matrix, and the harness run over it as a subprocess.

The site has the layout of the course: mkdocs.yml with the macros plugin and
an explicit nav, docs/, sample_app/, and a pytest.ini that makes the site the
run's rootdir, as the course's checkout is for the real pages. So neither the
checkout's conftest.py nor its pytest options apply: the harness comes in
with `-p tests.harness.plugin`, and PYTHONPATH makes it, `course` and
`macros` importable from the checkout. The site's macros are the course's
own, so include() fails here exactly as it fails there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PYTEST_INI = """\
[pytest]
markers =
    docker: needs a running Docker engine
"""

MACROS_MODULE = '''\
"""The sample site's macros are the course's: include() and nothing else."""

from macros import define_env  # noqa: F401
'''


@dataclass(frozen=True)
class HarnessRun:
    """How a run of the harness ended: its exit status, all it printed, and how long it took."""

    status: int
    output: str
    seconds: float


class SampleSite:
    """mkdocs.yml, pages in nav order and a sample_app, written under `root`; temp in `tmp`."""

    def __init__(self, root: Path, tmp: Path, extra: dict[str, object]):
        # `tmp` is the run's TMPDIR; it must be short, since the harness puts
        # its engine socket there and a socket's path has at most 107 bytes.
        self.root = root
        self.tmp = tmp
        self.extra = dict(extra)
        self.pages: list[str] = []
        for folder in (root / "docs", root / "sample_app"):
            folder.mkdir(parents=True, exist_ok=True)
        (root / "pytest.ini").write_text(PYTEST_INI)
        (root / "course_macros.py").write_text(MACROS_MODULE)

    def page(self, name: str, text: str) -> None:
        """Add the page docs/`name`, after the others; `text` is dedented."""
        self.pages.append(name)
        (self.root / "docs" / name).write_text(textwrap.dedent(text).lstrip())

    def app_file(self, relative: str, text: str) -> None:
        path = self.root / "sample_app" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def write_config(self) -> None:
        """Write mkdocs.yml: the pages so far, and `extra` as it stands."""
        # JSON strings are YAML strings, whatever they hold.
        lines = ["site_name: Fault matrix sample", "nav:"]
        lines += [f"  - {json.dumps(page)}" for page in self.pages]
        lines += [
            "plugins:",
            "  - macros:",
            "      module_name: course_macros",
            "      on_error_fail: true",
            "      on_undefined: strict",
            "extra:",
        ]
        lines += [f"  {key}: {json.dumps(value)}" for key, value in self.extra.items()]
        (self.root / "mkdocs.yml").write_text("\n".join(lines) + "\n")

    def command(self, *options: str) -> list[str]:
        """The harness over every page of the site, writing nothing into it."""
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.harness.plugin",
            "-p",
            "no:cacheprovider",
            "-ra",
            "--docs-config",
            str(self.root / "mkdocs.yml"),
            *options,
            str(self.root / "docs"),
        ]

    def environment(self, **overrides: str) -> dict[str, str]:
        """This process's environment, with the course importable and the harness's temp here."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            PYTHONPATH=str(REPO),
            PYTHONDONTWRITEBYTECODE="1",
            TMPDIR=str(self.tmp),
            NO_COLOR="1",
        )
        env.update(overrides)
        return env

    def start(self, *options: str, **env: str) -> subprocess.Popen:
        """Start the harness; its output, stderr included, comes on its stdout pipe."""
        self.write_config()
        return subprocess.Popen(
            self.command(*options),
            cwd=self.root,
            env=self.environment(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *options: str, timeout: float = 120, **env: str) -> HarnessRun:
        """Run the harness to its end."""
        started = time.monotonic()
        process = self.start(*options, **env)
        output, _ = process.communicate(timeout=timeout)
        return HarnessRun(process.returncode, output, time.monotonic() - started)

    def temporary_files(self) -> list[str]:
        """What the run left in its temporary folder: nothing, if it cleaned up."""
        return sorted(path.relative_to(self.tmp).as_posix() for path in self.tmp.rglob("*"))
