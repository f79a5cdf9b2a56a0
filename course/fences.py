"""Fences as the site's Markdown reads them: their info strings, their ends, their nesting.

The site uses Python-Markdown with pymdownx.superfences; the tests read
pages with markdown-it. These helpers close the gaps between the two that
would otherwise hide a block from the tests.
"""

from __future__ import annotations

import re

# A fence's info string as pymdownx.superfences reads it: a language, then
# either `{attributes}` or `key="value"` options. Anything else is not a
# fence to the site.
INFO_RE = re.compile(
    r"""(?x)
    ^(?:\.?(?P<lang>[\w#.+-]+)(?=[ \t]|$))?
    (?:
        [ \t]*\{(?P<attrs>.*)\} |
        (?P<options>(?:[ \t]*[a-zA-Z][a-zA-Z0-9_]*(?:=(?P<quot>["']).*?(?P=quot))?(?=[ \t]|$))+)
    )?[ \t]*$
    """
)
OPTION_RE = re.compile(r"""(?P<key>[a-zA-Z][a-zA-Z0-9_]*)(?:=(?P<q>["'])(?P<value>.*?)(?P=q))?""")
ATTR_RE = re.compile(
    r"""\.(?P<cls>[\w-]+)|\#[\w-]+"""
    r"""|(?P<key>[\w-]+)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S+))"""
)
FENCE_LINE_RE = re.compile(r"^[ \t>]*(?P<fence>`{3,}|~{3,})(?P<rest>.*)$")

# Admonitions, collapsible blocks and content tabs: their bodies are
# indented, which CommonMark would read as indented code.
CONTAINER_RE = re.compile(r"^(?P<indent> *)(?:!!!|\?\?\?\+?|===[+!]{0,2})[ \t]+\S")


def fence_info(info: str) -> tuple[str, str | None] | None:
    """The language and title of a fence, or None if the site would not read its options."""
    match = INFO_RE.match(info.strip())
    if match is None:
        return None

    language = match["lang"] or ""
    values: dict[str, str] = {}
    if match["attrs"] is not None:
        for attr in ATTR_RE.finditer(match["attrs"]):
            if attr["cls"] and not language:
                language = attr["cls"]
            elif attr["key"]:
                values[attr["key"]] = attr["dq"] or attr["sq"] or attr["bare"] or ""
    elif match["options"]:
        for option in OPTION_RE.finditer(match["options"]):
            values[option["key"]] = option["value"] or option["key"]

    return language, values.get("title") or None


def closes(markup: str, line: str) -> bool:
    """Whether `line` closes a fence opened with `markup`."""
    match = FENCE_LINE_RE.match(line)
    return bool(
        match
        and not match["rest"].strip()
        and match["fence"][0] == markup[0]
        and len(match["fence"]) >= len(markup)
    )


def looks_like_a_fence(line: str) -> bool:
    return FENCE_LINE_RE.match(line) is not None


def flatten_containers(lines: list[str]) -> list[str]:
    """Un-indent the bodies of admonitions and content tabs, line for line.

    The marker line (`!!! note`, `=== "Linux"`) becomes blank, so every line
    keeps its number and a fence inside is read as a fence.
    """
    flat: list[str] = []
    containers: list[int] = []
    open_fence: str | None = None
    for line in lines:
        stripped = line.lstrip(" \t")
        indent = len(line[: len(line) - len(stripped)].expandtabs(4))
        if stripped:
            while containers and indent < containers[-1] + 4:
                containers.pop()

        depth = 4 * len(containers)
        text = " " * max(indent - depth, 0) + stripped if containers else line
        open_fence = _still_open(open_fence, text)

        if open_fence is None and CONTAINER_RE.match(text):
            containers.append(indent)
            text = ""
        flat.append(text)
    return flat


def _still_open(open_fence: str | None, line: str) -> str | None:
    """The markup of the fence left open after `line`, given the one open before it."""
    if open_fence is not None:
        return None if closes(open_fence, line) else open_fence
    match = FENCE_LINE_RE.match(line)
    return match["fence"] if match else None
