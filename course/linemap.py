"""Mapping each line the macros rendered back to the source line it came from.

A plain diff cannot do this reliably: an included Dockerfile has blank lines
of its own, and a diff will happily pair one of them with the blank line
after the include, splitting the block between two source lines. So each
source line is first classed by the Jinja it holds:

- plain: no Jinja; it renders as itself, one line.
- inline: text with `{{ name }}` in it; it renders as one line that fits
  the text with anything in place of each expression.
- macro: nothing but Jinja (`{{ include("Dockerfile") }}`, `{% if %}`,
  or an expression over several lines); it renders as any number of lines.

The rendered lines are then aligned with these at the least cost, a line
that fits costing nothing; what no source line explains costs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2


@dataclass(frozen=True)
class _Unit:
    first: int
    last: int
    kind: str
    pattern: re.Pattern[str]


def map_lines(
    body: str, rendered: str, env: jinja2.Environment, offset: int = 0
) -> tuple[tuple[int, ...], frozenset[int]]:
    """Return, for each line of `rendered`, the 1-based line of `body` it came from.

    `offset` is added to every line, for the front matter above the body.
    Also returns the source lines that hold Jinja, i.e. whose text a macro made.
    """
    units = _units(body, env)
    after = rendered.split("\n")
    origins = _align(units, after)

    line_map = tuple(offset + origin + 1 for origin in origins)
    macro_lines = frozenset(
        offset + line + 1
        for unit in units
        if unit.kind != "plain"
        for line in range(unit.first, unit.last + 1)
    )
    return line_map, macro_lines


def _units(body: str, env: jinja2.Environment) -> list[_Unit]:
    lines = body.split("\n")
    # Per line: literal text, or None where an expression renders as anything.
    segments: list[list[str | None]] = [[] for _ in lines]
    has_jinja = [False] * len(lines)
    spans: list[tuple[int, int]] = []

    line = 0

    def literal(text: str) -> None:
        nonlocal line
        for number, part in enumerate(text.split("\n")):
            if number:
                line += 1
            segments[line].append(part)

    position = 0
    for token in _token_re(env).finditer(body):
        literal(body[position : token.start()])
        has_jinja[line] = True
        if token["inner"] is not None:
            # {% raw %} keeps its content as it stands.
            literal(token["inner"])
        elif "\n" in token.group():
            end = line + token.group().count("\n")
            spans.append((line, end))
            line = end
        else:
            segments[line].append(None)
        has_jinja[line] = True
        position = token.end()
    literal(body[position:])

    return _group(lines, segments, has_jinja, spans)


def _group(
    lines: list[str],
    segments: list[list[str | None]],
    has_jinja: list[bool],
    spans: list[tuple[int, int]],
) -> list[_Unit]:
    span_end = {}
    for first, last in spans:
        span_end[first] = max(last, span_end.get(first, first))

    units = []
    index = 0
    while index < len(lines):
        if index in span_end:
            last = span_end[index]
            # Spans that touch, as in `{{ a(\n) }}{{ b(\n) }}`, make one unit.
            while last in span_end and span_end[last] > last:
                last = span_end[last]
            units.append(_Unit(index, last, "macro", re.compile(".*")))
            index = last + 1
            continue

        parts = segments[index]
        if not has_jinja[index]:
            units.append(_Unit(index, index, "plain", re.compile(re.escape(lines[index]))))
        elif all(part is None or not part.strip() for part in parts) and None in parts:
            units.append(_Unit(index, index, "macro", re.compile(".*")))
        else:
            regex = "".join(".*" if part is None else re.escape(part) for part in parts)
            units.append(_Unit(index, index, "inline", re.compile(regex)))
        index += 1
    return units


def _token_re(env: jinja2.Environment) -> re.Pattern[str]:
    block = re.escape(env.block_start_string), re.escape(env.block_end_string)
    variable = re.escape(env.variable_start_string), re.escape(env.variable_end_string)
    comment = re.escape(env.comment_start_string), re.escape(env.comment_end_string)
    return re.compile(
        rf"{block[0]}-?\s*raw\s*-?{block[1]}(?P<inner>.*?){block[0]}-?\s*endraw\s*-?{block[1]}"
        rf"|{variable[0]}.*?{variable[1]}|{block[0]}.*?{block[1]}|{comment[0]}.*?{comment[1]}",
        re.DOTALL,
    )


def _align(units: list[_Unit], after: list[str]) -> list[int]:
    """The source line of each rendered line, by the cheapest alignment of the two."""
    n, m = len(units), len(after)

    # Whether unit i can be rendered line j; asked once or twice for every
    # pair, so the common case, a plain line, is a string comparison.
    texts = [unit.pattern.pattern if unit.kind == "plain" else None for unit in units]
    plain = [re.escape(line) for line in after]

    def fits(i: int, j: int) -> bool:
        if texts[i] is not None:
            return texts[i] == plain[j]
        return units[i].kind != "macro" and units[i].pattern.fullmatch(after[j]) is not None

    # cost[i][j]: cheapest way to account for rendered lines j.. with units i..;
    # least[i][j]: the cheapest of cost[i][j:], for a unit that takes any number.
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    least = [[0] * (m + 1) for _ in range(n + 1)]
    cost[n] = list(range(m, -1, -1))
    least[n] = [0] * (m + 1)
    for i in range(n - 1, -1, -1):
        row, below, below_least = cost[i], cost[i + 1], least[i + 1]
        for j in range(m, -1, -1):
            if units[i].kind == "macro":
                row[j] = below_least[j]
                continue
            best = 1 + below[j]
            if j < m:
                best = min(best, 1 + row[j + 1])
                if fits(i, j):
                    best = min(best, below[j + 1])
            if units[i].kind == "inline":
                best = min(best, 1 + below_least[j])
            row[j] = best
        running = row[m]
        for j in range(m, -1, -1):
            running = min(running, row[j])
            least[i][j] = running

    origins: list[int] = []
    i = j = 0
    while j < m:
        if i == n:
            # Lines no source line explains stay with the line before them.
            origins.append(origins[-1] if origins else 0)
            j += 1
            continue

        unit, here = units[i], cost[i][j]
        if fits(i, j) and here == cost[i + 1][j + 1]:
            origins.append(unit.first)
            i, j = i + 1, j + 1
        elif unit.kind == "macro" or (unit.kind == "inline" and here == 1 + least[i + 1][j]):
            # Of the ways that cost as little, the unit takes the fewest lines,
            # so that a macro after it still starts where it should.
            paid = 0 if unit.kind == "macro" else 1
            taken = next(k for k in range(m - j + 1) if cost[i + 1][j + k] + paid == here)
            origins.extend([unit.first] * taken)
            i, j = i + 1, j + taken
        elif here == 1 + cost[i + 1][j]:
            i += 1
        else:
            origins.append(origins[-1] if origins else unit.first)
            j += 1
    return origins
