"""The directive comments of CONTRIBUTING.md: `<!-- test: NAME ARGS -->`, read and checked.

A directive is a few words, quoted with `"` when they hold spaces, some of
them `key=value` options. Each name has one correct form, and any other
form is a PageError that shows it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The correct forms of each directive, shown when one is written wrongly.
FORMS = {
    "timeout": ("timeout SECONDS",),
    "wait-for": ("wait-for url=URL [timeout=SECONDS]", 'wait-for text="TEXT" [timeout=SECONDS]'),
    "exit-status": ("exit-status N",),
    "skip": ('skip reason="why, in words a stranger can follow"',),
    "check": ("check NAME [ARGS...] [hint=ANCHOR]",),
    "requires": ("requires PAGE.md",),
    "prose-only": ('prose-only reason="why the page has nothing to run"',),
}

OPTION_WORD_RE = re.compile(r"(?P<key>[a-z][a-z0-9_-]*)=(?P<value>.*)", re.DOTALL)
CHECK_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")


class PageError(Exception):
    """A page breaks the conventions of CONTRIBUTING.md; the message says where and what to do."""

    def __init__(self, location: str, line: int, problem: str) -> None:
        self.location = location
        self.line = line
        self.problem = problem
        super().__init__(f"{location}:{line}: {problem}")


@dataclass(frozen=True)
class Directive:
    """One `<!-- test: NAME ARGS -->` comment; `line` is its source line."""

    name: str
    args: tuple[str, ...]
    options: Mapping[str, str] = field(hash=False)
    line: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


def read_directive(text: str, line: int, location: str) -> Directive:
    """Read and check the words after `test:` in a directive comment."""
    known = ", ".join(FORMS)
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise PageError(location, line, f"cannot read this directive ({error})") from None
    if not words:
        raise PageError(location, line, f"an empty directive; directives: {known}")

    name, *rest = words
    if name not in FORMS:
        raise PageError(location, line, f"unknown directive {name!r}; directives: {known}")

    args: list[str] = []
    options: dict[str, str] = {}
    for word in rest:
        option = OPTION_WORD_RE.fullmatch(word)
        if option is None:
            args.append(word)
        elif option["key"] in options:
            raise _misuse(location, line, name, f"{option['key']}= is given twice")
        else:
            options[option["key"]] = option["value"]

    directive = Directive(name, tuple(args), options, line)
    _check_form(directive, location)
    return directive


def _check_form(d: Directive, location: str) -> None:
    def wrong(problem: str) -> PageError:
        return _misuse(location, d.line, d.name, problem)

    def only(*allowed: str) -> None:
        extra = sorted(set(d.options) - set(allowed))
        if extra:
            raise wrong(f"it takes no {extra[0]}=")

    def positional(count: int) -> None:
        if len(d.args) != count:
            raise wrong(f"it takes {count} word{'s' if count != 1 else ''}, not {len(d.args)}")

    def reason() -> None:
        if not d.options.get("reason", "").strip():
            raise wrong("it needs a reason=")

    if d.name == "timeout":
        positional(1)
        only()
        _positive(d.args[0], wrong)
    elif d.name == "wait-for":
        positional(0)
        only("url", "text", "timeout")
        if ("url" in d.options) == ("text" in d.options):
            raise wrong("it needs one of url= or text=")
        if "url" in d.options and not d.options["url"].startswith(("http://", "https://")):
            raise wrong("url= must start with http:// or https://")
        if "text" in d.options and not d.options["text"]:
            raise wrong("text= must not be empty")
        if "timeout" in d.options:
            _positive(d.options["timeout"], wrong)
    elif d.name == "exit-status":
        positional(1)
        only()
        if not re.fullmatch(r"\d+", d.args[0]) or int(d.args[0]) > 255:
            raise wrong(f"{d.args[0]!r} is not an exit status (0 to 255)")
    elif d.name in ("skip", "prose-only"):
        positional(0)
        only("reason")
        reason()
    elif d.name == "check":
        if not d.args or not CHECK_NAME_RE.fullmatch(d.args[0]):
            raise wrong("it needs the name of a check from course/checks.py first")
        if "hint" in d.options and not d.options["hint"]:
            raise wrong("hint= must name a heading under ## Common issues")
    elif d.name == "requires":
        positional(1)
        only()
        if not d.args[0].endswith(".md"):
            raise wrong(f"{d.args[0]!r} is not a page; give its path under docs/")


def _positive(word: str, wrong: Callable[[str], PageError]) -> None:
    try:
        seconds = float(word)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise wrong(f"{word!r} is not a positive number of seconds")


def _misuse(location: str, line: int, name: str, problem: str) -> PageError:
    forms = " or ".join(f"<!-- test: {form} -->" for form in FORMS[name])
    return PageError(location, line, f"{name}: {problem}; write {forms}")
