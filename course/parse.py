"""Reading a rendered page: its blocks, directives, Verification bullets and hints.

Pure: rendered Markdown and its line map in, immutable records out. What a
fence and a directive mean is written in CONTRIBUTING.md; this module is
where that is enforced, and every problem it finds is a PageError that
names the page and the source line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from markdown.extensions.toc import slugify, unique
from markdown_it import MarkdownIt
from markdown_it.token import Token

from course.directives import Directive, PageError, read_directive
from course.fences import closes, fence_info, flatten_containers, looks_like_a_fence

if TYPE_CHECKING:
    from course.render import RenderedPage

__all__ = ["Block", "Bullet", "Directive", "Page", "PageError", "parse_markdown", "parse_page"]

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell"})
RUNNABLE_KINDS = frozenset({"shell", "file", "python", "check"})

# The blocks each next-block directive may stand before.
APPLIES_TO = {
    "timeout": ("shell", "python"),
    "wait-for": ("shell",),
    "exit-status": ("shell",),
    "skip": ("shell", "output", "file", "python"),
}

# Kinds as a writer knows them.
KIND_NAMES = {"shell": "bash", "output": "Output"}

VERIFICATION = "verification"
COMMON_ISSUES = "common issues"

COMMENT_RE = re.compile(r"<!--(.*?)-->", re.DOTALL)
NEAR_MISS_RE = re.compile(r"(?i)tests?\s*:")
HEADING_ATTRS_RE = re.compile(r"\s*\{:?(?P<attrs>[^}]*)\}\s*$")


@dataclass(frozen=True)
class Block:
    """One thing the page asks for, in page order; `line` is its source line."""

    kind: str
    language: str
    line: int
    text: str
    title: str | None = None
    directives: tuple[Directive, ...] = ()
    section: str = ""
    from_macro: bool = False

    def directive(self, name: str) -> Directive | None:
        """The directive called `name` on this block, if any."""
        return next((d for d in self.directives if d.name == name), None)


@dataclass(frozen=True)
class Bullet:
    """A bullet under `## Verification` and the checks written on it."""

    text: str
    line: int
    checks: tuple[Directive, ...]


@dataclass(frozen=True)
class Page:
    """A parsed page. `hints` maps a Common issues heading's anchor to its first paragraph."""

    path: str
    blocks: tuple[Block, ...]
    requires: tuple[str, ...] = ()
    prose_only: str | None = None
    verification: tuple[Bullet, ...] = ()
    hints: Mapping[str, str] = field(default_factory=dict, hash=False)
    location: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hints", MappingProxyType(dict(self.hints)))
        if not self.location:
            object.__setattr__(self, "location", f"docs/{self.path}")


def parse_page(rendered: RenderedPage | _Unrendered) -> Page:
    """Read the blocks, directives, Verification bullets and hints of a rendered page."""
    return _Reader(rendered).read()


def parse_markdown(text: str, path: str = "page.md") -> Page:
    """Parse Markdown that no macro touched, each line standing for itself."""
    count = len(text.split("\n"))
    return parse_page(_Unrendered(path, f"docs/{path}", text, tuple(range(1, count + 1))))


@dataclass(frozen=True)
class _Unrendered:
    """What parsing needs of a RenderedPage, for text that was never rendered."""

    path: str
    location: str
    text: str
    line_map: tuple[int, ...]
    macro_lines: frozenset[int] = frozenset()


class _Reader:
    """One pass over a page's tokens, collecting records in page order."""

    def __init__(self, rendered: RenderedPage | _Unrendered) -> None:
        self.rendered = rendered
        self.location = rendered.location
        self.lines = flatten_containers(rendered.text.split("\n"))

        self.blocks: list[Block] = []
        self.pending: list[Directive] = []
        self.requires: list[str] = []
        self.prose_only: Directive | None = None
        self.bullets: list[Bullet] = []
        self.hints: dict[str, str] = {}

        self.section = ""
        self.chapter = ""
        self.anchors: set[str] = set()
        self.hint_anchor: str | None = None
        self.in_heading = False
        self.item_depth = 0
        self.bullet: tuple[int, list[str], list[Directive]] | None = None

    def read(self) -> Page:
        tokens = MarkdownIt("commonmark").parse("\n".join(self.lines))
        for index, token in enumerate(tokens):
            self._token(token, tokens[index + 1] if index + 1 < len(tokens) else None)

        self._no_directive_left_waiting()
        self._hints_exist()
        self._something_to_run()
        return Page(
            path=self.rendered.path,
            blocks=tuple(self.blocks),
            requires=tuple(self.requires),
            prose_only=self.prose_only.options["reason"] if self.prose_only else None,
            verification=tuple(self.bullets),
            hints=self.hints,
            location=self.location,
        )

    def error(self, line: int, problem: str) -> PageError:
        return PageError(self.location, line, problem)

    def source_line(self, index: int) -> int:
        line_map = self.rendered.line_map
        return line_map[min(index, len(line_map) - 1)] if line_map else 1

    def _token(self, token: Token, following: Token | None) -> None:
        if token.type == "heading_open" and following is not None:
            self._heading(int(token.tag[1:]), following)
        elif token.type == "heading_close":
            self.in_heading = False
        elif token.type == "list_item_open":
            self._item_opens(token)
        elif token.type == "list_item_close":
            self._item_closes()
        elif token.type == "inline":
            self._inline(token)
        elif token.type == "html_block":
            self._comments(token.content, token.map[0])
        elif token.type == "fence":
            self._fence(token)
        elif token.type == "code_block":
            self._indented_code(token)

    def _heading(self, level: int, inline: Token) -> None:
        self.in_heading = True
        text, explicit_id = _heading_text(inline)
        anchor = unique(explicit_id or slugify(text, "-"), self.anchors)
        self.section = text
        if level <= 2:
            self.chapter = text.strip().lower()
        self.hint_anchor = anchor if self.chapter == COMMON_ISSUES and level > 2 else None

    def _inline(self, token: Token) -> None:
        index = token.map[0]
        for child in token.children or ():
            if child.type == "html_inline":
                self._comments(child.content, index)
                index += child.content.count("\n")
            elif child.type in ("softbreak", "hardbreak"):
                index += 1

        if self.in_heading:
            return
        if self.bullet is not None:
            self.bullet[1].append(_plain_text(token))
        if self.hint_anchor is not None:
            self.hints.setdefault(self.hint_anchor, _plain_text(token))
            self.hint_anchor = None

    def _item_opens(self, token: Token) -> None:
        self.item_depth += 1
        if self.item_depth == 1 and self.chapter == VERIFICATION:
            self.bullet = (self.source_line(token.map[0]), [], [])

    def _item_closes(self) -> None:
        self.item_depth -= 1
        if self.item_depth or self.bullet is None:
            return

        line, texts, checks = self.bullet
        self.bullet = None
        if not checks:
            raise self.error(
                line,
                "this Verification bullet has no check; end it with "
                "<!-- test: check NAME ARGS --> so that the tests and `python -m course check` "
                "can verify it",
            )
        self.bullets.append(Bullet(" ".join(" ".join(texts).split()), line, tuple(checks)))

    def _comments(self, content: str, first_index: int) -> None:
        for comment in COMMENT_RE.finditer(content):
            body = comment.group(1).strip()
            if not NEAR_MISS_RE.match(body):
                continue

            index = first_index + content.count("\n", 0, comment.start())
            line = self.source_line(index)
            if not body.startswith("test:"):
                raise self.error(line, "write a directive as <!-- test: NAME ARGS -->")
            self._directive(read_directive(body[len("test:") :], line, self.location))

    def _directive(self, directive: Directive) -> None:
        if directive.name == "check":
            self.blocks.append(
                Block(
                    kind="check",
                    language="",
                    line=directive.line,
                    text="",
                    directives=(directive,),
                    section=self.section,
                    from_macro=directive.line in self.rendered.macro_lines,
                )
            )
            if self.bullet is not None:
                self.bullet[2].append(directive)
        elif directive.name == "requires":
            self.requires.append(directive.args[0])
        elif directive.name == "prose-only":
            if self.prose_only is not None:
                raise self.error(directive.line, "the page is already marked prose-only")
            self.prose_only = directive
        else:
            self.pending.append(directive)

    def _fence(self, token: Token) -> None:
        start, end = token.map
        line = self.source_line(start)
        if end - start < 2 or not closes(token.markup, self.lines[end - 1]):
            raise self.error(
                line,
                f"this fence ({token.markup}) is never closed, so the rest of the page "
                f"would be read as its content; close it with a line of {token.markup}",
            )

        info = fence_info(token.info)
        if info is None:
            raise self.error(
                line,
                f"the site would not read this fence's options ({token.info.strip()}); "
                'write them as key="value", for example ```dockerfile title="Dockerfile"',
            )
        language, title = info
        kind = _kind(language, title)
        directives = tuple(self.pending)
        self.pending = []
        self._directives_fit(kind, line, directives)
        if kind == "output":
            self._follows_a_command(line, any(d.name == "skip" for d in directives))
        if kind == "file":
            _relative_path(title, line, self.location)

        from_macro = all(
            self.source_line(i) in self.rendered.macro_lines for i in range(start, end)
        )
        if kind == "python" and from_macro:
            # pytest-markdown-docs runs the Python fences of the page's source;
            # one a macro shows (an excerpt of sample_app) is there to be read.
            kind = "illustration"
        block = Block(
            kind, language, line, token.content, title, directives, self.section, from_macro
        )
        self.blocks.append(block)

    def _directives_fit(self, kind: str, line: int, directives: tuple[Directive, ...]) -> None:
        seen: set[str] = set()
        for directive in directives:
            if directive.name in seen:
                raise self.error(
                    directive.line, f"a second {directive.name} for the block at line {line}"
                )
            seen.add(directive.name)

            if kind not in APPLIES_TO[directive.name]:
                kinds = _either(_named(k) for k in APPLIES_TO[directive.name])
                raise self.error(
                    directive.line,
                    f"{directive.name} applies to a {kinds} block, but the next block "
                    f"(line {line}) is {_a(_named(kind))} block; move the "
                    "directive to the block it is for",
                )

    def _follows_a_command(self, line: int, skipped: bool) -> None:
        before = [block for block in self.blocks if block.kind != "illustration"]
        if before and before[-1].kind == "shell":
            if before[-1].directive("skip") and not skipped:
                raise self.error(
                    line,
                    f"the command before this output (line {before[-1].line}) is skipped, so "
                    "there is nothing to compare; skip this block too: "
                    '<!-- test: skip reason="..." -->',
                )
            return

        last = before[-1] if before else None
        after = f"{_a(_named(last.kind))} block (line {last.line})" if last else "nothing"
        raise self.error(
            line,
            f"an Output block shows what the bash block just before it printed, but it "
            f"follows {after}; put it right after its command",
        )

    def _indented_code(self, token: Token) -> None:
        if any(looks_like_a_fence(line) for line in token.content.split("\n")):
            raise self.error(
                self.source_line(token.map[0]),
                "this fence is indented as code (four spaces, outside a list, admonition "
                "or content tab), so neither the site nor the tests see it as a block; "
                "indent it as its list item's text, or not at all",
            )

    def _no_directive_left_waiting(self) -> None:
        if self.pending:
            directive = self.pending[0]
            raise self.error(
                directive.line,
                f"{directive.name} applies to the next fenced block, but none follows; "
                "move it just above the block it is for",
            )

    def _hints_exist(self) -> None:
        for block in self.blocks:
            for check in block.directives:
                anchor = check.options.get("hint") if check.name == "check" else None
                if anchor is not None and anchor not in self.hints:
                    there = ", ".join(self.hints) or "none"
                    raise self.error(
                        check.line,
                        f"hint={anchor} names no heading with a paragraph under "
                        f"## Common issues; headings there: {there}",
                    )

    def _something_to_run(self) -> None:
        runnable = [block for block in self.blocks if block.kind in RUNNABLE_KINDS]
        if self.prose_only is not None and runnable:
            first = runnable[0]
            kind = _named(first.kind)
            raise self.error(
                self.prose_only.line,
                f"the page is marked prose-only but has {_a(kind)} block at line {first.line}; "
                "remove the mark or the block",
            )
        if self.prose_only is None and not runnable:
            raise self.error(
                1,
                f"{self.location} has no block to run; add one or mark it "
                '<!-- test: prose-only reason="..." -->',
            )


def _kind(language: str, title: str | None) -> str:
    if title is not None:
        return "output" if title.lower() == "output" else "file"
    if language in SHELL_LANGUAGES:
        return "shell"
    if language == "python":
        return "python"
    return "illustration"


def _relative_path(title: str | None, line: int, location: str) -> None:
    parts = (title or "").split("/")
    if not title or title.startswith("/") or ".." in parts or " " in title:
        raise PageError(
            location,
            line,
            f'title="{title}" must be the path of the file in the learner\'s project, '
            'relative to it, without spaces or "..", for example title="Dockerfile"',
        )


def _heading_text(inline: Token) -> tuple[str, str | None]:
    text = _plain_text(inline)
    attrs = HEADING_ATTRS_RE.search(text)
    if attrs is None:
        return text, None
    explicit = re.search(r"#([\w-]+)", attrs["attrs"])
    return text[: attrs.start()], explicit.group(1) if explicit else None


def _plain_text(inline: Token) -> str:
    parts = []
    for child in inline.children or ():
        if child.type in ("text", "code_inline", "text_special"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_plain_text(child))
    return " ".join("".join(parts).split())


def _named(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def _either(names: Iterable[str]) -> str:
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
