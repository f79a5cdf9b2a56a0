"""Figures, their targets, the printed table and the JSON: one record each, one format each.

A figure with a target is PASS or MISS; one that could not be measured has
no value and is a MISS too, with the reason in its note. Nothing is dropped
from the table for being bad news.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

WIDTH = 100


@dataclass(frozen=True)
class Figure:
    """One measured number (or yes/no), with the target it must meet if it has one.

    A numeric target is an upper bound; a yes/no target must be met exactly.
    """

    name: str
    value: float | int | bool | None
    unit: str = ""
    target: float | bool | None = None
    note: str = ""
    samples: tuple[float, ...] = ()

    @property
    def result(self) -> str:
        if self.target is None:
            return "" if self.value is not None else "NOT MEASURED"
        if self.value is None:
            return "MISS"
        if isinstance(self.target, bool):
            return "PASS" if self.value is self.target else "MISS"
        return "PASS" if self.value <= self.target else "MISS"

    @property
    def missed(self) -> bool:
        return self.result == "MISS"


@dataclass
class Section:
    """A numbered part of the benchmark: its figures and the notes that say how they were got."""

    number: int
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def failed(self, names: list[tuple[str, str, float | bool | None]], reason: str) -> None:
        """Record that the figures `names` (name, unit, target) could not be measured, and why."""
        for name, unit, target in names:
            self.figures.append(Figure(name, None, unit, target, note=reason))
        self.notes.append(f"Not measured: {reason}")


def format_value(value, unit: str) -> str:
    """A value as the table shows it: seconds to 0.1 s, bytes in decimal units, ratios to 3."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "B":
        return human_bytes(value)
    if unit == "x":
        return f"{value:.3f}"
    if unit == "%":
        return f"{value:.2f} %"
    if isinstance(value, int):
        return f"{value:,}{' ' + unit if unit else ''}"
    return f"{value:.4g}{' ' + unit if unit else ''}"


def format_target(target, unit: str) -> str:
    if target is None:
        return ""
    if isinstance(target, bool):
        return "yes" if target else "no"
    return f"≤ {format_value(target, unit)}" if unit not in ("x", "") else f"≤ {target:g}"


def human_bytes(count: float) -> str:
    """Decimal units, as `docker image ls` prints them: 135MB is 135,000,000 bytes."""
    if count < 1000:
        return f"{count:,.0f} B"
    exponent = min(int(math.log10(count) // 3), 4)
    unit = ("B", "kB", "MB", "GB", "TB")[exponent]
    return f"{count / 10 ** (3 * exponent):.4g} {unit}"


def table(sections: list[Section]) -> str:
    """The figures of every section as a plain-text table, then each section's notes."""
    name_width = max(
        [len(f"  {figure.name}") for section in sections for figure in section.figures] + [40]
    )
    name_width = min(name_width, 60)
    lines = [f"{'figure':<{name_width}}  {'measured':>14}  {'target':>10}  result"]
    lines.append("-" * len(lines[0]))
    for section in sections:
        lines.append(f"{section.number}. {section.title}")
        for figure in section.figures:
            name = "  " + textwrap.shorten(figure.name, name_width - 2, placeholder="…")
            lines.append(
                f"{name:<{name_width}}  {format_value(figure.value, figure.unit):>14}  "
                f"{format_target(figure.target, figure.unit):>10}  {figure.result}".rstrip()
            )

    missed = [f"{s.number}. {f.name}" for s in sections for f in s.figures if f.missed]
    unmeasured = [
        f"{s.number}. {f.name}" for s in sections for f in s.figures if f.result == "NOT MEASURED"
    ]
    targets = sum(1 for s in sections for f in s.figures if f.target is not None)
    lines.append("-" * len(lines[0]))
    if missed:
        lines.append(f"MISSED {len(missed)} of {targets} targets: " + "; ".join(missed))
    else:
        lines.append(f"All {targets} targets met.")
    if unmeasured:
        lines.append("NOT MEASURED: " + "; ".join(unmeasured))

    for section in sections:
        if section.notes:
            lines.append("")
            lines.append(f"Notes on {section.number}. {section.title}")
            for note in section.notes:
                lines.extend(
                    textwrap.wrap(note, WIDTH, initial_indent="- ", subsequent_indent="  ")
                )
    return "\n".join(lines)


def as_json(sections: list[Section], about: dict) -> dict:
    """The same figures as the table, with every sample, for a machine to read."""
    return {
        **about,
        "sections": [
            {
                "number": section.number,
                "title": section.title,
                "figures": [
                    {**asdict(figure), "samples": list(figure.samples), "result": figure.result}
                    for figure in section.figures
                ],
                "notes": section.notes,
            }
            for section in sections
        ],
        "missed": [f.name for s in sections for f in s.figures if f.missed],
        "not_measured": [f.name for s in sections for f in s.figures if f.result == "NOT MEASURED"],
    }


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
