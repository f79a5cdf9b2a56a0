"""`docker build` with the legacy builder, and what its output says: steps, cache hits, context.

The legacy builder prints a line per step, says "Using cache" for a step it
took from the cache, names the image each step made, and says how big the
build context it was sent is. The benchmark reads all of that from its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import log

# The legacy builder names the image each step made, and the result.
STEP_IMAGE_RE = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.MULTILINE)
BUILT_RE = re.compile(r"^Successfully built ([0-9a-f]{12})\s*$", re.MULTILINE)
STEP_RE = re.compile(r"^Step (\d+)/\d+ : (.*)$", re.MULTILINE)
CONTEXT_RE = re.compile(r"Sending build context to Docker daemon\s+([0-9.]+)\s*([kMGT]?B)")
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


@dataclass(frozen=True)
class Step:
    """One step of a legacy build: its instruction, whether it came from the cache, its image."""

    number: int
    instruction: str
    cached: bool
    image: str | None


@dataclass(frozen=True)
class Build:
    """One `docker build` as the CLI ran it."""

    seconds: float
    status: int
    output: str

    @property
    def image(self) -> str | None:
        found = BUILT_RE.findall(self.output)
        return found[-1] if found else None

    @property
    def steps(self) -> tuple[Step, ...]:
        return parse_steps(self.output)

    @property
    def context_bytes(self) -> float | None:
        return context_bytes(self.output)

    def failure(self, what: str) -> str:
        tail = "\n".join(self.output.rstrip().splitlines()[-12:])
        return f"{what} exited with status {self.status}; the build's last lines:\n{tail}"


def parse_steps(output: str) -> tuple[Step, ...]:
    """The steps a legacy build printed, in order."""
    heads = list(STEP_RE.finditer(output))
    steps = []
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(output)
        body = output[head.end() : end]
        images = STEP_IMAGE_RE.findall(body)
        steps.append(
            Step(
                int(head.group(1)),
                head.group(2).strip(),
                " ---> Using cache" in body,
                images[-1] if images else None,
            )
        )
    return tuple(steps)


def context_bytes(output: str) -> float | None:
    """The build context's size as the legacy builder reports it (4 significant digits)."""
    found = CONTEXT_RE.findall(output)
    if not found:
        return None
    number, unit = found[-1]
    return float(number) * UNITS[unit]


def docker_build(folder: Path, arguments: list[str]) -> Build:
    """`docker build --force-rm ARGUMENTS` in `folder` with the legacy builder, which prints steps.

    ARGUMENTS end with the context, as on the command line (`.`).
    """
    environment = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")
    command = ["docker", "build", "--force-rm", *arguments]
    log.debug("in %s: %s", folder, " ".join(command))
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=folder,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return Build(time.monotonic() - started, done.returncode, done.stdout)
