"""Part 5: how long `mkdocs build` takes, the median of several runs.

Each run builds the site (from the benchmark's snapshot of the checkout) into
a folder of its own, so that no run starts from another's output.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Figure, Section


def measure(config: Path, runs: int) -> Section:
    section = Section(5, "site build")
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-site-") as site:
            command = [
                sys.executable,
                "-m",
                "mkdocs",
                "build",
                "--quiet",
                "--config-file",
                str(config),
                "--site-dir",
                site,
            ]
            started = time.monotonic()
            done = subprocess.run(
                command, cwd=config.parent, capture_output=True, text=True, check=False
            )
            elapsed = time.monotonic() - started
            if done.returncode != 0:
                section.failed(
                    [("mkdocs build, median", "s", None)],
                    f"mkdocs build exited with {done.returncode}: " + done.stderr.strip()[-600:],
                )
                return section
            seconds.append(elapsed)
            pages = len(list(Path(site).rglob("*.html")))

    section.add(
        Figure(
            f"mkdocs build, median of {runs}",
            statistics.median(seconds),
            "s",
            samples=tuple(round(s, 2) for s in seconds),
        )
    )
    section.notes.append(
        f"`python -m mkdocs build --quiet` of {config.name} (strict, with the macros), into a "
        f"fresh temporary folder each time; {pages} HTML files. Runs (s): "
        + ", ".join(f"{s:.2f}" for s in seconds)
        + "."
    )
    return section
