"""Show a file of sample_app/, whole or one named region of it, as a fenced block.

A region lies between a `# --8<-- [start:NAME]` line and a
`# --8<-- [end:NAME]` line. Marker lines never reach the page, so a file shown
whole, titled with its name, is exactly what the learner saves and what the
tests build. A region is shown untitled: it is an excerpt to read, not a file.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

MARKER = re.compile(r"^\s*#\s*--8<--\s*\[(?P<edge>start|end):(?P<name>[\w-]+)\]\s*$")

# By file name first, then by suffix; anything else is shown as plain text.
LANGUAGE_BY_NAME = {"requirements.txt": "text", ".dockerignore": "text"}
LANGUAGE_BY_SUFFIX = {
    ".py": "python",
    ".txt": "text",
    ".toml": "toml",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
}


class IncludeError(Exception):
    """An include() that cannot be shown; the message names the page and what exists."""


def language_for(name: str) -> str:
    """The fence language that highlights the file `name`."""
    base = PurePosixPath(name).name
    if base.startswith("Dockerfile") or base.endswith(".Dockerfile"):
        return "dockerfile"
    if base in LANGUAGE_BY_NAME:
        return LANGUAGE_BY_NAME[base]
    return LANGUAGE_BY_SUFFIX.get(PurePosixPath(base).suffix, "text")


def is_marker(line: str) -> bool:
    return MARKER.match(line) is not None


def region_names(text: str) -> list[str]:
    """The names of the regions marked in `text`, in the order they start."""
    names = []
    for line in text.splitlines():
        match = MARKER.match(line)
        if match and match["edge"] == "start" and match["name"] not in names:
            names.append(match["name"])
    return names


def without_markers(text: str) -> str:
    """`text` with every marker line removed and every other line kept as it is."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_marker(line))


def region_text(text: str, region: str, where: str) -> str | None:
    """The lines between the markers of `region`, markers removed; None if it is not marked.

    `where` names the file in the error raised for a region that starts and
    never ends, or ends without starting.
    """
    inside, found, lines = False, False, []
    for line in text.splitlines(keepends=True):
        match = MARKER.match(line)
        if match and match["name"] == region:
            if match["edge"] == "start":
                if found:
                    raise IncludeError(f"the region '{region}' is marked twice in {where}")
                inside = found = True
            elif not inside:
                raise IncludeError(f"the region '{region}' in {where} ends before it starts")
            else:
                inside = False
        elif inside and not match:
            lines.append(line)

    if inside:
        raise IncludeError(f"the region '{region}' in {where} starts but never ends")
    return "".join(lines) if found else None


def fence(text: str, language: str, title: str | None) -> str:
    """A fenced block of `text`, its fence longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    info = f'{language} title="{title}"' if title else language
    return f"{ticks}{info}\n{body}{ticks}"


def render_include(app_dir: Path, path: str, region: str | None, page: str) -> str:
    """The fenced block that include(path, region) puts on `page`."""
    shown = f"{app_dir.name}/{path}"
    source = (app_dir / path).resolve()
    if not source.is_relative_to(app_dir.resolve()):
        raise IncludeError(f"{page}: include() shows files of {app_dir.name}/ only, not {path}")
    if not source.is_file():
        raise IncludeError(
            f"{page}: there is no file {shown}; files there: {', '.join(files_in(app_dir))}"
        )

    text = source.read_text(encoding="utf-8")
    if region is None:
        return fence(without_markers(text), language_for(path), path)

    body = region_text(text, region, shown)
    if body is None:
        regions = ", ".join(region_names(text)) or "none"
        raise IncludeError(
            f"{page}: the region '{region}' is not in {shown}; regions there: {regions}"
        )
    # No title: a titled block is a file for the learner to save as it stands,
    # and a region is only part of one. The page's prose names the file.
    return fence(body, language_for(path), None)


def files_in(app_dir: Path) -> list[str]:
    """The files under `app_dir` that include() can show, as paths relative to it."""
    skipped = {"__pycache__", ".pytest_cache", ".ruff_cache"}
    return sorted(
        path.relative_to(app_dir).as_posix()
        for path in app_dir.rglob("*")
        if path.is_file() and not skipped & set(path.relative_to(app_dir).parts)
    )
