"""`python -m course check N`: the Verification checks of exercise N, on the learner's own work.

The bullets, their checks and the hints come from the exercise's page itself,
rendered as the site renders it, so the learner is held to exactly what CI
holds the course to. Nothing here writes: it reads files, images, containers
and URLs.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .checks import CHECKS, Context, Outcome, run_check

COURSE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("main.py", "requirements.txt")
# Checks whose failure usually means the learner has not started the container.
NEEDS_RUNNING_CONTAINER = {"responds", "container-running"}


class Stop(Exception):
    """A reason to stop before checking anything; the text says what to do."""


@dataclass(frozen=True)
class BulletResult:
    text: str
    outcomes: tuple[tuple[str, Outcome], ...]
    hint: str

    @property
    def passed(self) -> bool:
        return all(outcome.passed for _, outcome in self.outcomes)


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
    page = load_exercise(number)
    require_project(project)
    client = connect_if_needed(page)

    title = page_title(page)
    print(f"{title}, in {project}")
    results = [check_bullet(page, bullet, Context(project, client)) for bullet in page.verification]
    for result in results:
        print_result(result, start_command(page))

    failed = sum(not result.passed for result in results)
    if failed:
        print(f"{failed} of {len(results)} checks failed.")
        return 1
    print(f"All {len(results)} checks passed.")
    return 0


def load_exercise(number: str):
    from .parse import parse_page
    from .render import nav_pages, render_pages

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
            f"there is no exercise {number}; the exercises are {', '.join(sorted(exercises))}"
        )

    (rendered,) = render_pages(config, [exercises[number]])
    page = parse_page(rendered)
    if not page.verification:
        raise Stop(f"exercise {number} has no Verification section to check")
    return page


def require_project(project: Path) -> None:
    missing = [name for name in PROJECT_FILES if not (project / name).is_file()]
    if missing:
        raise Stop(
            f"{project} does not look like the exercise's project: it has no "
            f"{' and no '.join(missing)}. Run the check from the folder where you build the "
            "image, or name it with --project DIR"
        )


def connect_if_needed(page):
    names = {d.args[0] for bullet in page.verification for d in bullet.checks}
    if not any(CHECKS[name].needs_engine for name in names if name in CHECKS):
        return None

    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException:
        raise Stop(
            "Docker is not running, or this user may not use it: start Docker Desktop, or "
            "the engine (sudo systemctl start docker), then check again"
        ) from None
    return client


def check_bullet(page, bullet, ctx: Context) -> BulletResult:
    outcomes, hint = [], ""
    for directive in bullet.checks:
        name, *args = directive.args
        outcome = run_check(name, ctx, tuple(args), directive.options)
        outcomes.append((name, outcome))
        if not outcome.passed and not hint:
            hint = page.hints.get(directive.options.get("hint", ""), "")
    return BulletResult(bullet.text, tuple(outcomes), hint)


def print_result(result: BulletResult, start: str | None) -> None:
    print(f"  {'pass' if result.passed else 'FAIL'}  {result.text}")
    if result.passed:
        return

    for name, outcome in result.outcomes:
        if not outcome.passed:
            print(f"        {outcome.detail}")
            if name in NEEDS_RUNNING_CONTAINER and start:
                print(f"        Is the container running? The page starts it with: {start}")
    if result.hint:
        print(f"        Hint: {result.hint}")


def start_command(page) -> str | None:
    """The page's `docker run` in its Verification section, which starts what the checks look at."""
    runs = [
        block.text.strip()
        for block in page.blocks
        if block.kind == "shell" and block.section == "Verification" and "docker run" in block.text
    ]
    return runs[-1] if runs else None


def page_title(page) -> str:
    return page.title if getattr(page, "title", None) else page.path
