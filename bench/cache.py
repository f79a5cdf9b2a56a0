"""Part 3: a change to main.py alone must rebuild in a fraction of a cold build's time.

In a scratch copy of the project as Exercise 2 leaves it: a build of
Dockerfile.multi with `--no-cache`, then one line appended to main.py (a
changed file, since the legacy builder ignores modification times), then the
same build with the cache. The dependency layers are the steps before the
first COPY of main.py; each must say "Using cache" and yield the same layer
as in the cold build.
"""

from __future__ import annotations

import re
from pathlib import Path

from .build import Step
from .engine import Made
from .projects import Course
from .report import Figure, Section

DOCKERFILE = "Dockerfile.multi"
CHANGED = "main.py"
RATIO_TARGET = 0.20


def measure(course: Course, made: Made, workdir: Path, logs: Path) -> Section:
    section = Section(3, f"cache reuse ({DOCKERFILE}, then {CHANGED} changed)")
    names = [
        ("cold build (--no-cache)", "s", None),
        (f"rebuild after changing {CHANGED}", "s", None),
        ("rebuild / cold", "x", RATIO_TARGET),
        ("every dependency layer reused", "", True),
    ]
    page = _page_creating(course, DOCKERFILE)
    project = course.project_after(page, workdir / "cache-project")

    cold = made.build(project, "cache:cold", ["--no-cache", "-f", DOCKERFILE, "."])
    (logs / "cache-cold.log").write_text(cold.output, encoding="utf-8")
    if cold.status != 0:
        section.failed(names, cold.failure("the cold build"))
        return section

    main = project / CHANGED
    main.write_text(main.read_text(encoding="utf-8") + "# changed by the benchmark\n")
    warm = made.build(project, "cache:changed", ["-f", DOCKERFILE, "."])
    (logs / "cache-rebuild.log").write_text(warm.output, encoding="utf-8")
    if warm.status != 0:
        section.failed(names, warm.failure("the rebuild"))
        return section

    dependencies = dependency_steps(warm.steps, CHANGED)
    cold_layers = {step.number: step.image for step in cold.steps}
    same_layers = all(step.image == cold_layers.get(step.number) for step in dependencies)
    reused = bool(dependencies) and all(step.cached for step in dependencies) and same_layers

    section.add(
        Figure(names[0][0], cold.seconds, "s"),
        Figure(names[1][0], warm.seconds, "s"),
        Figure(names[2][0], warm.seconds / cold.seconds, "x", RATIO_TARGET),
        Figure(
            names[3][0],
            reused,
            "",
            True,
            note=f"{sum(s.cached for s in dependencies)} of {len(dependencies)} steps",
        ),
    )
    section.notes.append(
        f"Built with the legacy builder (DOCKER_BUILDKIT=0, --force-rm) in a scratch copy of "
        f"the project as {page.path} leaves it. The cold build had its base images locally "
        f"(no registry is reachable; see section 2) and pip downloaded "
        f"{cold.output.count('Downloading ')} packages for it; the rebuild followed a one-line "
        f"change to {CHANGED}. Outputs: {logs / 'cache-cold.log'}, {logs / 'cache-rebuild.log'}."
    )
    section.notes.append(
        f"Dependency steps (before the first COPY of {CHANGED}, FROM lines aside): "
        + "; ".join(
            f"{step.number} {_short(step.instruction)}: "
            + ("Using cache" if step.cached else "BUILT")
            + (", same layer" if step.image == cold_layers.get(step.number) else ", NEW layer")
            for step in dependencies
        )
        + ". Built again: "
        + ", ".join(
            f"{s.number} {_short(s.instruction)}"
            for s in warm.steps
            if not s.cached and not _is_from(s)
        )
        + "."
    )
    return section


def dependency_steps(steps: tuple[Step, ...], changed: str) -> list[Step]:
    """The steps before the first COPY or ADD that brings `changed`, without the FROM lines."""
    found = []
    for step in steps:
        words = step.instruction.split()
        if (
            words
            and words[0].upper() in ("COPY", "ADD")
            and not any(word.startswith("--from") for word in words)
            and any(Path(word).name == changed for word in words[1:-1])
        ):
            return found
        if not _is_from(step):
            found.append(step)
    return found


def _page_creating(course: Course, path: str):
    for page in course.pages:
        if any(block.kind == "file" and block.title == path for block in page.blocks):
            return page
    raise RuntimeError(f"no page writes {path}; the cache figures need the page that does")


def _is_from(step: Step) -> bool:
    return step.instruction.upper().startswith("FROM ")


def _short(instruction: str) -> str:
    text = re.sub(r"\s+", " ", instruction)
    return text if len(text) <= 48 else text[:45] + "..."
