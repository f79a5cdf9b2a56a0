"""Part 4: with .dockerignore, the build context must be little more than the files the image needs.

A scratch copy of the project as Exercise 2 leaves it gets the clutter the
exercise names: a `.git` with objects, `__pycache__` with `.pyc` files, log
files and a `node_modules` with many small files, all made the same way on
every run. The context is computed from docker-py's `exclude_paths` (the
files a build would send) and sized as the CLI's tar stream: a 512-byte
header per entry, contents padded to 512 bytes, 1024 bytes at the end. The
legacy builder's own "Sending build context" figure is the cross-check,
taken from a build that stops at once (an unknown `--target`), so that
nothing is built.

"Needed" is what a build of Dockerfile.multi cannot do without: the files
its COPY instructions take from the context, plus the Dockerfile and
.dockerignore, which the CLI always sends.
"""

from __future__ import annotations

import os
import py_compile
import random
import shutil
import subprocess
from pathlib import Path

from docker.utils.build import exclude_paths

from .build import docker_build
from .projects import Course
from .report import Figure, Section

DOCKERFILE = "Dockerfile.multi"
IGNORE_FILE = ".dockerignore"
RATIO_TARGET = 1.05
BLOCK = 512


def measure(course: Course, workdir: Path, token: str) -> Section:
    section = Section(4, "build context (clutter added, Dockerfile.multi)")
    page = next(
        page
        for page in course.pages
        if any(block.kind == "file" and block.title == IGNORE_FILE for block in page.blocks)
    )
    project = course.project_after(page, workdir / "context-project")
    add_clutter(project)

    needed_names = needed_files(project / DOCKERFILE) + [DOCKERFILE, IGNORE_FILE]
    needed_dir = workdir / "context-needed"
    needed_dir.mkdir()
    for name in needed_names:
        target = needed_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, target)

    with_ignore = context_entries(project)
    needed = context_entries(needed_dir)
    unneeded = sorted(set(with_ignore) - set(needed))
    without_dir = workdir / "context-without-ignore"
    shutil.copytree(project, without_dir, symlinks=True)
    (without_dir / IGNORE_FILE).unlink()
    without = context_entries(without_dir)

    sizes = {
        "with": tar_bytes(project, with_ignore),
        "without": tar_bytes(without_dir, without),
        "needed": tar_bytes(needed_dir, needed),
    }
    builder = {
        "with": _builder_figure(project, token),
        "without": _builder_figure(without_dir, token),
        "needed": _builder_figure(needed_dir, token),
    }

    section.add(
        Figure(
            f"sent without {IGNORE_FILE}", sizes["without"], "B", note=f"{len(without)} entries"
        ),
        Figure(f"sent with {IGNORE_FILE}", sizes["with"], "B", note=f"{len(with_ignore)} entries"),
        Figure(
            f"needed: COPY sources, {DOCKERFILE}, {IGNORE_FILE}",
            sizes["needed"],
            "B",
            note=", ".join(needed_names),
        ),
        Figure(
            "with / needed",
            sizes["with"] / sizes["needed"],
            "x",
            RATIO_TARGET,
            note="sent beyond the needed: " + (", ".join(unneeded) or "nothing"),
        ),
        Figure("without / needed", sizes["without"] / sizes["needed"], "x"),
        Figure(
            "computed vs the builder's own figure, largest difference",
            _largest_difference(builder, sizes),
            "%",
        ),
    )
    section.notes.append(
        "Clutter added: " + describe_clutter(project) + ". Sizes are those of the tar stream the "
        "CLI sends, computed from docker-py's exclude_paths; the legacy builder's own figures "
        "(4 significant digits) were: "
        + "; ".join(
            f"{key} {_builder_text(builder[key])} ({_difference(builder[key], sizes[key])})"
            for key in ("without", "with", "needed")
        )
        + "."
    )
    section.notes.append(
        f"Needed: {', '.join(needed_names)}: the files {DOCKERFILE}'s COPY instructions take "
        f"from the context, and the two the CLI always sends. Sent with {IGNORE_FILE} beyond "
        "those: " + (", ".join(unneeded) or "nothing") + "."
    )
    return section


def context_entries(root: Path) -> list[str]:
    """What a build of DOCKERFILE in `root` sends: files and folders, as docker-py lists them."""
    ignore = root / IGNORE_FILE
    patterns = []
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    return sorted(exclude_paths(str(root), patterns, dockerfile=DOCKERFILE))


def tar_bytes(root: Path, entries: list[str]) -> int:
    """The size of the CLI's tar of `entries`: headers, contents padded to 512, end blocks."""
    total = 2 * BLOCK
    for entry in entries:
        path = root / entry
        total += BLOCK
        if len(entry) + path.is_dir() > 100:
            total += 2 * BLOCK  # a PAX header and its record for a long name
        if path.is_file() and not path.is_symlink():
            total += -(-path.stat().st_size // BLOCK) * BLOCK
    return total


def needed_files(dockerfile: Path) -> list[str]:
    """The context paths the Dockerfile's COPY and ADD take (not those --from another stage)."""
    needed = []
    for instruction in _instructions(dockerfile.read_text(encoding="utf-8")):
        words = instruction.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        operands = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from") for word in words[1:]):
            continue
        needed += [source for source in operands[:-1] if source not in needed]
    return needed


def _instructions(text: str) -> list[str]:
    joined, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    return [line for line in joined if line]


def add_clutter(project: Path, seed: int = 6) -> None:
    """Add the clutter Exercise 2 names, the same on every run."""
    rng = random.Random(seed)

    # A .git of a project with some history: a few commits and one large blob.
    environment = dict(
        os.environ,
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(project.parent),
    )
    git = ["git", "-C", str(project), "-c", "init.defaultBranch=main", "-c", "gc.auto=0"]
    subprocess.run([*git, "init", "-q"], check=True, env=environment)
    subprocess.run([*git, "add", "-A"], check=True, env=environment)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True, env=environment)
    asset = project / "logo.bin"
    asset.write_bytes(rng.randbytes(256_000))
    subprocess.run([*git, "add", "logo.bin"], check=True, env=environment)
    subprocess.run([*git, "commit", "-q", "-m", "a logo"], check=True, env=environment)
    subprocess.run([*git, "rm", "-q", "logo.bin"], check=True, env=environment)
    subprocess.run([*git, "commit", "-q", "-m", "no logo"], check=True, env=environment)

    # Bytecode, as running the app or its tests leaves it.
    cache = project / "__pycache__"
    cache.mkdir()
    py_compile.compile(str(project / "main.py"), cfile=str(cache / "main.cpython-311.pyc"))
    for name in ("conftest", "test_main", "helpers"):
        (cache / f"{name}.cpython-311.pyc").write_bytes(rng.randbytes(rng.randint(2_000, 9_000)))

    # Logs.
    lines = [
        f"2024-05-0{rng.randint(1, 9)} INFO waitress: request {n} served in {rng.random():.4f}s\n"
        for n in range(40_000)
    ]
    (project / "app.log").write_text("".join(lines))
    (project / "debug.log").write_text("".join(lines[:5_000]))

    # A node_modules of many small packages.
    modules = project / "node_modules"
    for index in range(300):
        package = modules / f"pkg-{index:03d}"
        (package / "lib").mkdir(parents=True)
        (package / "package.json").write_text(
            f'{{"name": "pkg-{index:03d}", "version": "1.{index}.0", "main": "lib/index.js"}}\n'
        )
        (package / "lib" / "index.js").write_text(
            "module.exports = " + "1 + " * rng.randint(50, 600) + "1;\n"
        )
        (package / "README.md").write_text("# pkg\n\n" + "Some words. " * rng.randint(20, 200))


def describe_clutter(project: Path) -> str:
    parts = []
    for name in (".git", "__pycache__", "node_modules"):
        files = [p for p in (project / name).rglob("*") if p.is_file()]
        parts.append(f"{name} ({len(files)} files, {sum(p.stat().st_size for p in files):,} B)")
    logs = sorted(project.glob("*.log"))
    parts.append(f"{len(logs)} .log files ({sum(p.stat().st_size for p in logs):,} B)")
    return ", ".join(parts)


def _builder_figure(context: Path, token: str) -> float | None:
    build = docker_build(
        context, ["-f", DOCKERFILE, "--target", f"bench-no-such-stage-{token}", "."]
    )
    return build.context_bytes


def _largest_difference(builder: dict, sizes: dict) -> float | None:
    if any(value is None for value in builder.values()):
        return None
    return max(abs(100 * (sizes[key] - builder[key]) / builder[key]) for key in sizes)


def _builder_text(value: float | None) -> str:
    return "not printed" if value is None else f"{value:,.0f} B"


def _difference(builder: float | None, computed: int) -> str:
    if builder is None:
        return "no cross-check"
    return f"computed {computed:,} B, {100 * (computed - builder) / builder:+.2f}%"
