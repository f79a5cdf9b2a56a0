"""The checkout the benchmark measures, its pages, and the learner's project as a page finds it.

Everything runs from a snapshot of the checkout taken at the start, .git
included: the harness fails a page when the checkout changes under it, and
people edit the checkout while a benchmark of several minutes runs; and both
sides of every comparison must see the same pages from first run to last.

A page starts in a scratch copy of `sample_app/` without the files that this
page or a later one tells the learner to create (tests/harness/project.py).
The plain runs start there too, and the image parts build the project as it
stands once a page has written its files.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from course.parse import Page, parse_page
from course.render import render_pages
from tests.harness.project import files_created_from, make_scratch_project

from .script import runnable_blocks

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mkdocs.yml"
SAMPLE_APP = ROOT / "sample_app"
# Not part of the snapshot: big, or made by running things, and all gitignored.
NOT_SNAPSHOT = shutil.ignore_patterns(
    ".venv", "site", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info"
)


def snapshot(root: Path, destination: Path) -> Path:
    """Copy the checkout at `root` (its .git too) to `destination`, ready for git status."""
    shutil.copytree(root, destination, symlinks=True, ignore=NOT_SNAPSHOT)
    # The copy's index holds the original's file stats; refresh it once here,
    # so that the first timed run does not pay for it.
    subprocess.run(
        ["git", "-C", str(destination), "status", "--porcelain"], capture_output=True, check=False
    )
    return destination


@dataclass(frozen=True)
class Course:
    """Every page of the site at `root`, rendered and parsed, in nav order."""

    root: Path
    pages: tuple[Page, ...]

    @classmethod
    def load(cls, root: Path = ROOT) -> Course:
        rendered = render_pages(root / "mkdocs.yml")
        return cls(root, tuple(parse_page(page) for page in rendered))

    @property
    def config(self) -> Path:
        return self.root / "mkdocs.yml"

    @property
    def sample_app(self) -> Path:
        return self.root / "sample_app"

    def page(self, name: str) -> Page:
        for page in self.pages:
            if page.path == name:
                return page
        names = ", ".join(page.path for page in self.pages)
        raise KeyError(f"{name} is not in the site's nav; pages there: {names}")

    def with_prerequisites(self, name: str) -> tuple[Page, ...]:
        """Page `name` and every page it requires, however indirectly, in nav order."""
        wanted, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in wanted:
                wanted.add(current)
                todo.extend(self.page(current).requires)
        return tuple(page for page in self.pages if page.path in wanted)

    def runnable(self) -> tuple[Page, ...]:
        """The pages with something to run: what `pytest docs` runs, in order."""
        return tuple(page for page in self.pages if runnable_blocks(page))

    def scratch_project(self, page: Page, destination: Path) -> Path:
        """The learner's project as `page` begins, copied to `destination`."""
        created = [
            (each.path, {block.title for block in each.blocks if block.kind == "file"})
            for each in self.pages
        ]
        left_out = files_created_from(created, page.path)
        return make_scratch_project(self.sample_app, destination, left_out)

    def project_after(self, page: Page, destination: Path) -> Path:
        """The project once `page` has written all its files."""
        return self.project_at(page, None, destination)

    def project_at(self, page: Page, line: int | None, destination: Path) -> Path:
        """The project as `page` has it when it reaches `line`: the files written before it."""
        project = self.scratch_project(page, destination)
        for block in runnable_blocks(page):
            if line is not None and block.line >= line:
                break
            if block.kind == "file":
                target = project / block.title
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
        return project


def fresh_folder(path: Path) -> Path:
    """`path` as an empty folder, whatever was there before (always under our own temp dir)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
