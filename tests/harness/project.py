"""The learner's project as it stands when a page begins, and a guard on the checkout.

A page runs in a scratch copy of `sample_app/` from which the files that this
page or a later page tells the learner to create are left out: Exercise 1
starts without a Dockerfile because writing it is the exercise. The checkout
itself is never a working directory, and its state is compared before and
after each page so that a command that strays out of the scratch project is
caught.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

# Left out of every scratch copy: what running the app's tests or an editor
# leaves behind in sample_app/ is not part of the learner's project.
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def files_created_from(page_files: Sequence[tuple[str, Iterable[str]]], page: str) -> set[str]:
    """The files written by `page` and by every page after it, given pages in nav order."""
    names = [name for name, _ in page_files]
    start = names.index(page)
    return {path for _, created in page_files[start:] for path in created}


def make_scratch_project(sample_app: Path, destination: Path, left_out: set[str]) -> Path:
    """Copy sample_app to destination without the files in `left_out`."""
    shutil.copytree(sample_app, destination, ignore=NOT_COPIED)
    for relative in left_out:
        target = destination / relative
        if target.is_file():
            target.unlink()
    return destination


def checkout_state(root: Path) -> dict[str, str]:
    """What git sees as changed or untracked in the checkout: path to a digest of its content."""
    status = subprocess.run(
        ["git", "status", "--porcelain=v1", "-uall", "-z"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if status.returncode != 0:
        return _every_file(root)

    state = {}
    for entry in filter(None, status.stdout.split(b"\0")):
        relative = entry[3:].decode(errors="replace")
        path = root / relative
        content = path.read_bytes() if path.is_file() else b""
        state[relative] = entry[:2].decode() + hashlib.sha256(content).hexdigest()
    return state


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The checkout paths whose state differs between two `checkout_state` readings."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


def checkout_changed(root: Path, changed: list[str], during: str) -> str:
    """The report of the checkout's paths that changed while `during` ran, left as they are."""
    return (
        f"the checkout {root} changed while {during} ran: {', '.join(changed)}; a page's "
        "commands must stay in the scratch project, so look for a cd or a path that leads out "
        "of it (or, if you changed these files yourself meanwhile, run again); the harness "
        f"does not undo the change: see it with git -C {root} status"
    )


def _every_file(root: Path) -> dict[str, str]:
    """The state of a folder that is not a git checkout: every file's digest."""
    skipped = {".git", ".venv", "site", "__pycache__", ".pytest_cache"}
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not skipped & set(path.relative_to(root).parts)
    }
