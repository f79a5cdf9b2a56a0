"""The plain side of the overhead comparison: each page's script in its own bash and project.

As the harness does, every page gets a fresh scratch project and a bash of
its own, with the environment the harness gives a page's bash; the script
lives beside the project, not in it, so that no build context sees it.

The plain run cleans up after itself by name (see `engine.settle_run`): the
containers and tags the pages' commands name, and the images the builds'
output names as new. `proxied=True` runs the same scripts with DOCKER_HOST
pointing at the harness's own EngineProxy instead, and cleans up with its
Ledger: the harness's proxy alone, without pytest, rendering or checks.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course.parse import Page
from tests.harness.engine import upstream_socket
from tests.harness.pagerun import shell_environment

from . import log
from .build import parse_steps
from .engine import Made, before_run, settle_run
from .projects import Course
from .script import NamedObjects, page_script

RUN_DEADLINE_SECONDS = 1800


@dataclass(frozen=True)
class Run:
    """One timed run of a set of pages, by the harness or as plain scripts."""

    variant: str
    seconds: float
    ok: bool
    problem: str = ""
    cached_steps: int | None = None
    rebuilt_steps: int | None = None
    warm: bool = True
    warm_detail: str = ""
    cpu_seconds: float | None = None


def cpu_seconds() -> float:
    """User and system CPU time of this process and of every child it has waited for."""
    mine, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def run_plain(
    course: Course,
    pages: tuple[Page, ...],
    client,
    named: NamedObjects,
    made: Made,
    log_file: Path,
    *,
    proxied: bool = False,
) -> Run:
    """Run `pages` as plain bash scripts, clean up exactly, and time all of it."""
    scripts = {page.path: page_script(page) for page in pages}
    variant = "plain via proxy" if proxied else "plain"
    workdir = Path(tempfile.mkdtemp(prefix="bench-plain-"))
    api = client.api

    started, cpu = time.monotonic(), cpu_seconds()
    before = before_run(api, named.containers, named.images)
    proxy = _start_proxy() if proxied else None
    docker_host = proxy.docker_host if proxy is not None else None

    outputs, problem, problems = [], "", []
    try:
        for page in pages:
            mark = proxy.ledger.mark() if proxy is not None else 0
            status, output = _run_page(course, page, scripts[page.path], workdir, docker_host)
            outputs.append(output)
            if proxy is not None:
                # As the harness does at the end of each page.
                problems += proxy.ledger.cleanup(client, since=mark, keep_images=True).problems
            if status != 0:
                problem = f"docs/{page.path} stopped with status {status}: " + _tail(output)
                break
    finally:
        output = "".join(outputs)
        if proxy is not None:
            problems += proxy.ledger.cleanup(client).problems
            proxy.close()
        else:
            problems += settle_run(api, named.containers, before, output, made)
        shutil.rmtree(workdir, ignore_errors=True)
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu

    log_file.write_text(output, encoding="utf-8")
    if problems:
        problem = "; ".join(filter(None, [problem, "clean-up: " + "; ".join(problems)]))
    steps = parse_steps(output)
    cached = sum(step.cached for step in steps)
    rebuilt = sum(
        not step.cached and not step.instruction.upper().startswith("FROM ") for step in steps
    )
    return Run(variant, seconds, not problem, problem, cached, rebuilt, cpu_seconds=cpu)


def _run_page(course: Course, page: Page, script: str, workdir: Path, docker_host):
    folder = workdir / Path(page.path).stem
    project = course.scratch_project(page, folder / "project")
    script_file = folder / "page.sh"
    script_file.write_text(script, encoding="utf-8")
    log.debug("running %s as a plain script in %s", page.path, project)

    done = subprocess.run(
        ["bash", "--noprofile", "--norc", str(script_file)],
        cwd=project,
        env=shell_environment(docker_host),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_DEADLINE_SECONDS,
        check=False,
        start_new_session=True,
    )
    return done.returncode, f"===== docs/{page.path}\n{done.stdout}"


def _start_proxy():
    from tests.harness.proxy import EngineProxy

    proxy = EngineProxy(upstream=upstream_socket())
    proxy.start()
    return proxy


def _tail(output: str, lines: int = 8) -> str:
    return " | ".join(output.rstrip().splitlines()[-lines:])
