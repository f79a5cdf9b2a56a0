"""Comparing an output block with what the command printed, wildcards included.

The wildcards are those of CONTRIBUTING.md: `...` alone on a line stands for
any number of lines, `...` inside a line for any text, and `<id>`, `<size>`
and `<time>` for what Docker prints that changes from one run to the next.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

ANY_LINES = "..."

# An output block is small; past this many line pairs the diff is made
# without wildcards rather than aligning them, so a huge output stays quick.
MAX_ALIGNED_PAIRS = 250_000

WILDCARDS = {
    "...": ".*",
    "<id>": r"(?:sha256:)?(?:[0-9a-f]{64}|[0-9a-f]{12})",
    "<size>": r"\d+(?:\.\d+)?(?:B|kB|KB|MB|GB|TB|PB|KiB|MiB|GiB|TiB)",
    "<time>": (
        r"(?:Up )?"
        r"(?:Less than a second|About a minute|About an hour"
        r"|\d+ (?:second|minute|hour|day|week|month|year)s?)"
        r"(?: ago)?"
        # The absolute forms of `docker inspect` and `--format '{{.CreatedAt}}'`.
        r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
        r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} [A-Z]+"
    ),
}
WILDCARD_RE = re.compile("|".join(re.escape(token) for token in WILDCARDS))

# Colour and cursor sequences (CSI), window titles and links (OSC), and the
# two-character escapes.
ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass(frozen=True)
class Mismatch:
    """Why an output block did not match: a unified diff, and where it first went wrong.

    In the diff, lines that a wildcard matched are shown as the command printed
    them, so only the lines that really differ are marked; its line numbers
    count lines as shown. `expected_line` is the first line of the output
    block, and `actual_line` the first printed line, that nothing matched.
    """

    diff: str
    expected_line: int | None
    actual_line: int | None

    def __str__(self) -> str:
        return self.diff


def match_output(expected: str, actual: str) -> Mismatch | None:
    """Return None when `actual` matches the output block `expected`, else a Mismatch."""
    patterns = _lines(expected)
    printed = _lines(_clean(actual))

    matchers = [None if line.strip() == ANY_LINES else _line_regex(line) for line in patterns]
    if _glob_match(matchers, printed):
        return None

    return _mismatch(patterns, matchers, printed)


def _clean(text: str) -> str:
    return ANSI_RE.sub("", text).replace("\r", "")


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _line_regex(line: str) -> re.Pattern[str]:
    parts = []
    position = 0
    for wildcard in WILDCARD_RE.finditer(line):
        parts.append(re.escape(line[position : wildcard.start()]))
        parts.append(f"(?:{WILDCARDS[wildcard.group()]})")
        position = wildcard.end()
    parts.append(re.escape(line[position:]))
    return re.compile("".join(parts))


def _fits(matcher: re.Pattern[str], line: str) -> bool:
    return matcher.fullmatch(line) is not None


def _glob_match(matchers: list[re.Pattern[str] | None], printed: list[str]) -> bool:
    """Match lines as a glob matches characters, `None` being the star.

    Only the last star is ever backtracked to, which is enough because every
    other pattern line matches exactly one printed line; it keeps the work at
    most proportional to the product of the two lengths, never exponential.
    """
    p = a = 0
    star = resume = -1
    while a < len(printed):
        if p < len(matchers) and matchers[p] is not None and _fits(matchers[p], printed[a]):
            p += 1
            a += 1
        elif p < len(matchers) and matchers[p] is None:
            star, resume = p, a
            p += 1
        elif star >= 0:
            resume += 1
            p, a = star + 1, resume
        else:
            return False

    return all(matcher is None for matcher in matchers[p:])


def _mismatch(
    patterns: list[str], matchers: list[re.Pattern[str] | None], printed: list[str]
) -> Mismatch:
    if len(patterns) * len(printed) <= MAX_ALIGNED_PAIRS:
        shown, expected_line, actual_line = _align(patterns, matchers, printed)
    else:
        shown, expected_line, actual_line = patterns, None, None

    diff = difflib.unified_diff(shown, printed, "expected (page)", "actual", lineterm="")
    return Mismatch("\n".join(diff), expected_line, actual_line)


def _align(
    patterns: list[str], matchers: list[re.Pattern[str] | None], printed: list[str]
) -> tuple[list[str], int | None, int | None]:
    """The page's lines with each wildcard match replaced by what it matched.

    An edit distance in which a pattern line that matches costs nothing, `...`
    takes any printed line for nothing, and every other line costs one. Also
    returns the 1-based first pattern line and printed line left unmatched.
    """
    n, m = len(patterns), len(printed)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        cost[i][m] = cost[i + 1][m] + (0 if matchers[i] is None else 1)
    for j in range(m - 1, -1, -1):
        cost[n][j] = cost[n][j + 1] + 1

    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if matchers[i] is None:
                cost[i][j] = min(cost[i + 1][j], cost[i][j + 1])
            elif _fits(matchers[i], printed[j]):
                cost[i][j] = cost[i + 1][j + 1]
            else:
                cost[i][j] = 1 + min(cost[i + 1][j], cost[i][j + 1])

    shown: list[str] = []
    expected_line = actual_line = None
    i = j = 0
    while i < n or j < m:
        # `...` takes a line only when the lines after it cannot do as well
        # without it, so that the page's own lines match where they can.
        if i < n and matchers[i] is None and (j == m or cost[i][j] == cost[i + 1][j]):
            i += 1
        elif i < n and matchers[i] is None:
            shown.append(printed[j])
            j += 1
        elif i < n and j < m and _fits(matchers[i], printed[j]):
            shown.append(printed[j])
            i += 1
            j += 1
        elif i < n and (j == m or cost[i][j] == 1 + cost[i + 1][j]):
            shown.append(patterns[i])
            expected_line = expected_line or i + 1
            i += 1
        else:
            actual_line = actual_line or j + 1
            j += 1
    return shown, expected_line, actual_line
