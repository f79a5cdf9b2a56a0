"""The pages' source: files come from include(), every learner's file is shown, nav matches docs/.

These read the Markdown as written, before any macro runs, so they hold the
source to the rule that no Dockerfile, `.dockerignore` or source file is typed
into a page by hand.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLE_APP = ROOT / "sample_app"
PAGES = sorted(DOCS.glob("*.md"))

WHOLE_FILE_INCLUDE = re.compile(r"""\{\{\s*include\(\s*["']([^"']+)["']\s*\)\s*\}\}""")
TITLE = re.compile(r'title="([^"]*)"')
# Two consecutive lines of a file in one block are a copy, not a mention.
COPIED_RUN = 2
PROSE_WIDTH = 80


def sample_app_files() -> list[Path]:
    skipped = {"__pycache__", ".pytest_cache", ".ruff_cache"}
    return sorted(
        path
        for path in SAMPLE_APP.rglob("*")
        if path.is_file() and not skipped & set(path.relative_to(SAMPLE_APP).parts)
    )


def code_blocks(text: str, first_line: int = 1) -> Iterator[tuple[int, str, str]]:
    """(source line, info string, content) of every code block, including those nested
    in admonitions and content tabs, whose indented bodies Markdown sees as code."""
    for token in MarkdownIt("commonmark").parse(text):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        line = first_line + token.map[0]
        if token.type == "fence":
            yield line, token.info, token.content
        else:
            yield from code_blocks(textwrap.dedent(token.content), line)


def significant(lines: str) -> list[str]:
    """The lines that carry content: stripped, without blank lines, comments or markers."""
    kept = (line.strip() for line in lines.splitlines())
    return [line for line in kept if line and not line.startswith("#") and line != "..."]


def longest_shared_run(block: list[str], source: list[str]) -> int:
    """The length of the longest run of consecutive lines that both lists contain."""
    longest = 0
    for start in range(len(block)):
        for offset in range(len(source)):
            length = 0
            while (
                start + length < len(block)
                and offset + length < len(source)
                and block[start + length] == source[offset + length]
            ):
                length += 1
            longest = max(longest, length)
    return longest


def nav_pages() -> list[str]:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def flatten(entries) -> Iterator[str]:
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            if isinstance(value, list):
                yield from flatten(value)
            else:
                yield value

    return list(flatten(nav))


@pytest.fixture(scope="module")
def shown_files() -> set[str]:
    """Every file of sample_app/ that some page includes whole."""
    return {name for page in PAGES for name in WHOLE_FILE_INCLUDE.findall(page.read_text())}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"docs/{page.name}")
def test_only_output_blocks_carry_a_title_in_the_source(page):
    titled = [
        f"docs/{page.name}:{line}: title {TITLE.search(info)[1]!r}"
        for line, info, _ in code_blocks(page.read_text())
        if TITLE.search(info) and TITLE.search(info)[1] != "Output"
    ]

    assert not titled, (
        "a block titled with a file name is a file typed by hand; show it with "
        '{{ include("NAME") }} instead:\n' + "\n".join(titled)
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"docs/{page.name}")
def test_no_block_in_the_source_repeats_lines_of_a_sample_app_file(page):
    sources = {path: significant(path.read_text()) for path in sample_app_files()}
    copies = []
    for line, _, content in code_blocks(page.read_text()):
        block = significant(content)
        for path, source in sources.items():
            run = longest_shared_run(block, source)
            if run >= COPIED_RUN or (block and all(item in source for item in block)):
                copies.append(f"docs/{page.name}:{line} repeats sample_app/{path.name}")

    assert not copies, (
        'show a part of a file with {{ include("NAME", "REGION") }} rather than '
        "typing it:\n" + "\n".join(copies)
    )


@pytest.mark.parametrize(
    "path", sample_app_files(), ids=lambda path: path.relative_to(SAMPLE_APP).as_posix()
)
def test_every_sample_app_file_is_shown_whole_on_some_page(path, shown_files):
    name = path.relative_to(SAMPLE_APP).as_posix()

    assert name in shown_files, (
        f"sample_app/{name} is part of the learner's project but no page shows it; "
        f'add {{{{ include("{name}") }}}} to the page that asks for it'
    )


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    on_disk = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    in_nav = set(nav_pages())

    assert on_disk - in_nav == set(), "pages missing from nav in mkdocs.yml"
    assert in_nav - on_disk == set(), "nav entries in mkdocs.yml with no page in docs/"


def code_lines(text: str, first_line: int = 1) -> set[int]:
    """The source lines of fences, nested ones included, and of HTML blocks."""
    covered = set()
    for token in MarkdownIt("commonmark").parse(text):
        if token.map is None:
            continue
        start, end = first_line + token.map[0], first_line + token.map[1]
        if token.type in ("fence", "html_block"):
            covered.update(range(start, end))
        elif token.type == "code_block":
            covered.update(code_lines(textwrap.dedent(token.content), start))
    return covered


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines a reader sees as running text."""
    skipped = code_lines(text)
    for number, line in enumerate(text.splitlines(), start=1):
        if number not in skipped and not line.strip().startswith(("|", "<!--")):
            yield number, line


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"docs/{page.name}")
def test_prose_is_wrapped_at_80_columns(page):
    long_lines = [
        f"docs/{page.name}:{number}: {len(line)} columns"
        for number, line in prose_lines(page.read_text())
        if len(line) > PROSE_WIDTH and "://" not in line
    ]

    assert not long_lines, "wrap these lines at 80 columns:\n" + "\n".join(long_lines)
