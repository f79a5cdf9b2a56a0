"""`python -m course check N`: the Verification checks of exercise N, on the learner's own work.

The bullets, their checks and the hints come from the exercise's page itself,
rendered as the site renders it, so the learner is held to exactly what CI
holds the course to. Nothing here writes: it reads files, images, containers
and URLs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import CHECKS, Context, Outcome, run_check

if TYPE_CHECKING:
    from .parse import Bullet, Page

COURSE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("main.py", "requirements.txt")
WIDTH = 79

PASSED, FAILED, NOT_CHECKED = "pass", "FAIL", "not checked"
LABEL_WIDTH = len(NOT_CHECKED)
INDENT = " " * (2 + LABEL_WIDTH + 2)


class Stop(Exception):
    """A reason to stop before checking anything; the text says what to do."""


@dataclass(frozen=True)
class Exercise:
    """An exercise's parsed page and the title it shows."""

    number: str
    title: str
    page: Page


@dataclass(frozen=True)
class BulletResult:
    """What became of one bullet: its status, the outcome that decided it, the hint to show."""

    text: str
    status: str
    outcome: Outcome
    hint: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check your work on one exercise")
    check.add_argument("exercise", help="the exercise's number, e.g. 2")
    check.add_argument("--project", type=Path, default=Path.cwd(), help="your project folder")
    args = parser.parse_args(argv)

    try:
        return check_exercise(args.exercise, args.project.resolve())
    except Stop as stop:
        print(stop, file=sys.stderr)
        return 2


def check_exercise(number: str, project: Path) -> int:
    exercise = load_exercise(number)
    require_project(project)
    client = connect_if_needed(exercise.page)

    print(f"{exercise.title}: checking {project}")
    results = check_bullets(exercise.page, Context(project, client))
    start = start_command(exercise.page)
    for result in results:
        print_result(result, start)

    print(summary(results))
    return 0 if all(result.status == PASSED for result in results) else 1


def load_exercise(number: str) -> Exercise:
    from .directives import PageError
    from .parse import parse_page
    from .render import RenderError, nav_pages, render_pages

    config = COURSE_ROOT / "mkdocs.yml"
    if not config.is_file():
        raise Stop(
            f"the course's pages are not beside this package ({COURSE_ROOT}); install the "
            "course from a clone of its repository: python3 -m pip install -e ."
        )

    exercises = {
        match.group(1): name
        for name in nav_pages(config)
        if (match := re.fullmatch(r"exercise-(\d+)\.md", name))
    }
    if number not in exercises:
        raise Stop(
            f"there is no exercise {number}; the exercises are "
            f"{', '.join(sorted(exercises, key=int))}: python -m course check NUMBER"
        )

    try:
        (rendered,) = render_pages(config, [exercises[number]])
        page = parse_page(rendered)
    except (RenderError, PageError) as error:
        raise Stop(f"the page of exercise {number} cannot be read: {error}") from None
    if not page.verification:
        raise Stop(f"exercise {number} has no Verification section to check")
    return Exercise(number, _title(rendered.text, page.path), page)


def _title(text: str, fallback: str) -> str:
    heading = re.search(r"^# (.+)$", text, re.MULTILINE)
    return heading.group(1).strip() if heading else fallback


def require_project(project: Path) -> None:
    if not project.is_dir():
        raise Stop(f"there is no folder {project}; name your project folder with --project DIR")
    missing = [name for name in PROJECT_FILES if not (project / name).is_file()]
    if missing:
        raise Stop(
            f"{project} is not an exercise folder: it has no {' and no '.join(missing)}. "
            "Run the check from the folder where you build the image, or name it with "
            "--project DIR"
        )


def connect_if_needed(page: Page):
    names = {d.args[0] for bullet in page.verification for d in bullet.checks}
    if not any(CHECKS[name].needs_engine for name in names if name in CHECKS):
        return None

    import docker
    import docker.errors
    import requests

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise Stop(_no_engine(str(error))) from None
    return client


def _no_engine(problem: str) -> str:
    if "permission denied" in problem.lower():
        return (
            "this user may not use Docker (permission denied): add it to the docker group "
            "(sudo usermod -aG docker $USER, then log in again), then check again"
        )
    host = os.environ.get("DOCKER_HOST")
    where = f" at {host} (the address in DOCKER_HOST)" if host else ""
    fix = ", or point DOCKER_HOST at a running engine" if host else ""
    return (
        f"Docker is not running{where}: start Docker Desktop, or the engine "
        f"(sudo systemctl start docker){fix}, then check again"
    )


def check_bullets(page: Page, ctx: Context) -> list[BulletResult]:
    """Every bullet's result, in page order.

    A bullet stops at its first check that does not pass. When that check
    misses only things an earlier bullet already failed on, the bullet is not
    checked rather than failed: one missing image is one mistake, not three.
    """
    reported: set[str] = set()
    results = []
    for bullet in page.verification:
        result = _check_bullet(page, bullet, ctx, reported)
        if result.status == FAILED:
            reported.update(result.outcome.missing)
        results.append(result)
    return results


def _check_bullet(page: Page, bullet: Bullet, ctx: Context, reported: set[str]) -> BulletResult:
    outcome = Outcome(True, "")
    for directive in bullet.checks:
        name, *args = directive.args
        outcome = run_check(name, ctx, tuple(args), directive.options)
        if outcome.passed:
            continue
        if outcome.missing and set(outcome.missing) <= reported:
            return BulletResult(bullet.text, NOT_CHECKED, outcome)
        hint = page.hints.get(directive.options.get("hint", ""), "")
        return BulletResult(bullet.text, FAILED, outcome, hint)
    return BulletResult(bullet.text, PASSED, outcome)


def print_result(result: BulletResult, start: str | None) -> None:
    label = f"  {result.status:<{LABEL_WIDTH}}  "
    print(_wrap(result.text, label))
    if result.status == PASSED:
        return

    if result.status == NOT_CHECKED:
        needs = " and ".join(result.outcome.missing)
        print(_wrap(f"It needs {needs}, which a check above found missing."))
        return

    print(_wrap(result.outcome.detail))
    no_container = any(thing.startswith("the container ") for thing in result.outcome.missing)
    if no_container and start:
        # The learner has not started it: the command is the help, not the hint.
        print(_wrap(f"Start it as the page does: {start}"))
    elif result.hint:
        print(_wrap(f"Hint: {result.hint}"))


def _wrap(text: str, first: str = INDENT) -> str:
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )


def summary(results: Iterable[BulletResult]) -> str:
    statuses = [result.status for result in results]
    failed, not_checked = statuses.count(FAILED), statuses.count(NOT_CHECKED)
    if not failed and not not_checked:
        return f"All {len(statuses)} checks passed."
    line = f"{failed} of {len(statuses)} checks failed"
    return line + (f", {not_checked} not checked." if not_checked else ".")


def start_command(page: Page) -> str | None:
    """The page's `docker run` in its Verification section, which starts what the checks look at."""
    runs = [
        block.text.strip()
        for block in page.blocks
        if block.kind == "shell" and block.section == "Verification" and "docker run" in block.text
    ]
    return runs[-1] if runs else None
