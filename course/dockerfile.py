"""Reading a Dockerfile into instructions and stages, the way the builder reads it.

No Dockerfile parser ships with the course's dependencies, so this follows
the rules of Docker's own parser that a learner's file may use: parser
directives (`# escape=`), comment lines (also inside a continued
instruction), line continuations with trailing blanks, blank lines inside a
continuation, the JSON form of arguments and here-documents (`<<EOF`).
Pure: text in, records out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

DIRECTIVE_RE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
HEREDOC_RE = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


class DockerfileError(ValueError):
    """The text cannot be a Dockerfile; `line` is where reading stopped."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"line {line}: {problem}")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword in capitals, its arguments joined onto one line, its line."""

    keyword: str
    arguments: str
    line: int
    heredocs: tuple[str, ...] = ()

    def words(self) -> tuple[str, ...]:
        """The arguments as the builder splits them: the JSON form's items, or words."""
        if self.arguments.startswith("["):
            try:
                items = json.loads(self.arguments)
            except json.JSONDecodeError:
                items = None
            if isinstance(items, list) and all(isinstance(item, str) for item in items):
                return tuple(items)
        return tuple(self.arguments.split())

    def flags(self) -> dict[str, str]:
        """The leading `--name=value` (or bare `--name`) flags, by name."""
        words = self.words()
        leading = words[: len(words) - len(self.operands())]
        return dict((word[2:].partition("=")[::2]) for word in leading)

    def operands(self) -> tuple[str, ...]:
        """The words after the leading flags."""
        words = self.words()
        count = 0
        while count < len(words) and words[count].startswith("--"):
            count += 1
        return words[count:]

    def shown(self) -> str:
        """The instruction as one line, for a message."""
        return f"{self.keyword} {self.arguments}".strip()


@dataclass(frozen=True)
class Stage:
    """A build stage: its FROM, its name if it has one, and the instructions after the FROM."""

    base: str
    name: str | None
    line: int
    instructions: tuple[Instruction, ...]

    @property
    def label(self) -> str:
        return f"the stage '{self.name}'" if self.name else f"the stage at line {self.line}"


def read_instructions(text: str) -> tuple[Instruction, ...]:
    """The instructions of a Dockerfile, in order, each with the line it starts on."""
    lines = text.splitlines()
    escape, index = _parser_directives(lines)

    instructions = []
    while index < len(lines):
        if _is_blank_or_comment(lines[index]):
            index += 1
            continue
        instruction, index = _one_instruction(lines, index, escape)
        instructions.append(instruction)
    return tuple(instructions)


def read_stages(text: str) -> tuple[Stage, ...]:
    """The build stages of a Dockerfile; ARG lines before the first FROM belong to none."""
    stages: list[Stage] = []
    current: tuple[str, str | None, int] | None = None
    body: list[Instruction] = []

    for instruction in read_instructions(text):
        if instruction.keyword == "FROM":
            if current is not None:
                stages.append(Stage(*current, tuple(body)))
            current, body = _from(instruction), []
        elif current is not None:
            body.append(instruction)
        elif instruction.keyword != "ARG":
            raise DockerfileError(
                instruction.line,
                f"{instruction.keyword} comes before the first FROM; only ARG may",
            )

    if current is None:
        raise DockerfileError(1, "there is no FROM instruction")
    stages.append(Stage(*current, tuple(body)))
    return tuple(stages)


def inherited(stages: tuple[Stage, ...], stage: Stage) -> tuple[Instruction, ...]:
    """The instructions that made the stage: those of the stages it is built FROM, then its own."""
    by_name = {s.name.lower(): s for s in stages if s.name}
    chain = [stage]
    while chain[-1].base.lower() in by_name and by_name[chain[-1].base.lower()] not in chain:
        chain.append(by_name[chain[-1].base.lower()])
    return tuple(instruction for s in reversed(chain) for instruction in s.instructions)


def _parser_directives(lines: list[str]) -> tuple[str, int]:
    """The escape character and the index of the first line after the parser directives."""
    escape = "\\"
    seen: set[str] = set()
    for index, line in enumerate(lines):
        match = DIRECTIVE_RE.fullmatch(line.strip())
        if match is None or match.group(1).lower() in seen:
            return escape, index
        name, value = match.group(1).lower(), match.group(2)
        seen.add(name)
        if name == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(index + 1, f"escape={value}: the escape must be \\ or `")
            escape = value
    return escape, len(lines)


def _one_instruction(lines: list[str], index: int, escape: str) -> tuple[Instruction, int]:
    first = index
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    parts = []
    while True:
        line = lines[index]
        index += 1
        ends_continued = continuation.search(line)
        parts.append(line[: ends_continued.start()] if ends_continued else line)
        if not ends_continued:
            break
        # Comment lines and blank lines inside a continued instruction are dropped.
        while index < len(lines) and _is_blank_or_comment(lines[index]):
            index += 1
        if index == len(lines):
            break

    joined = "".join(parts).strip()
    keyword, _, arguments = joined.partition(" ")
    keyword = keyword.upper()
    if not re.fullmatch(r"[A-Z]+", keyword):
        raise DockerfileError(first + 1, f"{joined[:40]!r} does not start with an instruction")

    heredocs: list[str] = []
    if keyword in HEREDOC_INSTRUCTIONS:
        for match in HEREDOC_RE.finditer(arguments):
            body, index = _heredoc(lines, index, match.group(3), bool(match.group(1)), first)
            heredocs.append(body)
    return Instruction(keyword, arguments.strip(), first + 1, tuple(heredocs)), index


def _heredoc(
    lines: list[str], index: int, word: str, strip_tabs: bool, first: int
) -> tuple[str, int]:
    body = []
    while index < len(lines):
        line = lines[index].lstrip("\t") if strip_tabs else lines[index]
        index += 1
        if line == word:
            return "\n".join(body), index
        body.append(line)
    raise DockerfileError(first + 1, f"the here-document <<{word} is never closed by {word}")


def _from(instruction: Instruction) -> tuple[str, str | None, int]:
    operands = instruction.operands()
    if not operands:
        raise DockerfileError(instruction.line, "FROM names no image")
    name = None
    if len(operands) >= 3 and operands[1].lower() == "as":
        name = operands[2]
    return operands[0], name, instruction.line


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")
