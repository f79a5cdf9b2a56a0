"""Failure reports that point at the page, never at the harness.

A failing block is reported as a reader needs it: where it is on the page,
what it ran, how it ended, the last lines it printed and, for an output
block, the difference. pytest prints the text of these exceptions instead of
a traceback, so no frame of the harness appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OUTPUT_TAIL_LINES = 30

# What the engine says when a port to publish is taken: by another container
# ("port is already allocated") or by another program on the machine.
PORT_TAKEN = re.compile(
    r"Bind for \S*:(?P<allocated>\d+) failed: port is already allocated"
    r"|listen tcp[46]? \S*:(?P<bound>\d+): bind: address already in use"
)


@dataclass(frozen=True)
class Where:
    """A block's place: the page as a contributor opens it, and the line."""

    page: str
    line: int

    def __str__(self) -> str:
        return f"docs/{self.page}:{self.line}"


class DocsFailure(Exception):
    """A block of a page did not do what the page says; its text is the whole report."""

    def __init__(self, where: Where, summary: str, sections: tuple[tuple[str, str], ...] = ()):
        self.where = where
        self.summary = summary
        self.sections = sections
        super().__init__(self.render())

    def render(self) -> str:
        parts = [f"{self.where}: {self.summary}"]
        for title, body in self.sections:
            if body.strip():
                parts.append(f"{title}:\n{_indent(body.rstrip())}")
        return "\n\n".join(parts)


def command_failed(where: Where, command: str, status: int | None, output: str, summary: str):
    """The report for a command that exited wrongly, timed out or ended the shell."""
    return DocsFailure(
        where,
        summary,
        (
            ("command", command),
            ("exit status", "none (killed)" if status is None else str(status)),
            (f"last {OUTPUT_TAIL_LINES} lines of output", tail(output)),
        ),
    )


def next_step(status: int, output: str) -> str:
    """What to do about a command that failed where the page shows it succeeding."""
    taken = PORT_TAKEN.search(output)
    if taken:
        port = taken["allocated"] or taken["bound"]
        return (
            f": port {port} is in use on this machine, so the page cannot publish it; stop "
            f"what holds it (docker ps for a container, ss -ltnp 'sport = :{port}' for a "
            "program) and run again"
        )
    return (
        "; the page shows it succeeding, so fix the command or the steps before it, or, if it "
        f"is meant to fail, put <!-- test: exit-status {status} --> before it"
    )


def tail(output: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    kept = output.rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())
