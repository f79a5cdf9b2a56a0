"""A rendered page as a plain bash script: the commands it shows, as a learner would type them.

This is the plain side of the harness-overhead comparison, and it holds what
the harness runs and nothing more:

- a bash block as it stands, then a test of its exit status (the learner
  reads it too; without the test a broken run would look cheap);
- a file block written with a quoted heredoc, byte for byte;
- a Python fence of the page's source piped to `python`, where the harness
  runs it under pytest-markdown-docs;
- `wait-for url=` as a curl loop before the block, polling as often as the
  harness does; `wait-for text=` as a loop running the block again once a
  second until its output holds the text;
- no output block and no check: comparing is what the harness adds;
- no block with a skip directive, exactly as the harness leaves it out.

Pure: parsed pages in, text out.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from course.parse import Block, Page
from tests.harness.ledger import image_ref
from tests.harness.pagerun import DEFAULT_WAIT_SECONDS, WAIT_POLL_SECONDS

HEADER = """\
# {location} as a plain script: its commands and files, nothing compared.
bench_status() {{
  if [ "$2" != "$3" ]; then
    printf '%s:%s exited with status %s, not %s\\n' {location_q} "$1" "$2" "$3" >&2
    exit 1
  fi
}}
bench_wait_url() {{
  local deadline=$((SECONDS + $3)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 2 "$2")
    if [ "$code" != 000 ] && [ "$code" -lt 500 ]; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s:%s: %s did not answer within %s s\\n' {location_q} "$1" "$2" "$3" >&2
      exit 1
    fi
    sleep {poll:g}
  done
}}
"""


def page_script(page: Page) -> str:
    """The bash script that does what `page` asks, in page order, with no harness around it."""
    parts = [
        HEADER.format(
            location=page.location, location_q=shlex.quote(page.location), poll=WAIT_POLL_SECONDS
        )
    ]
    for block in runnable_blocks(page):
        parts.append(f"\n# line {block.line}\n")
        parts.append(_TRANSLATIONS[block.kind](page, block))
    return "".join(parts)


def runnable_blocks(page: Page) -> list[Block]:
    """The blocks a plain run does something for: bash, files and Python, minus skipped ones."""
    return [
        block
        for block in page.blocks
        if block.kind in _TRANSLATIONS and block.directive("skip") is None
    ]


def _shell(page: Page, block: Block) -> str:
    expected = _argument(block, "exit-status") or "0"
    wait = block.directive("wait-for")
    seconds = _seconds(wait)

    if wait is not None and "text" in wait.options:
        text = shlex.quote(wait.options["text"])
        return (
            f"bench_deadline=$((SECONDS + {seconds:g}))\n"
            "while :; do\n"
            "  bench_output=$(\n"
            "{\n"
            f"{_ending(block.text)}"
            "} 2>&1\n"
            ")\n"
            "  bench_rc=$?\n"
            f"  case $bench_output in *{text}*) break ;; esac\n"
            '  if [ "$SECONDS" -ge "$bench_deadline" ]; then\n'
            f"    printf '%s:%s: no %s in its output within %s s\\n' "
            f"{shlex.quote(page.location)} {block.line} {text} {seconds:g} >&2\n"
            "    exit 1\n"
            "  fi\n"
            "  sleep 1\n"
            "done\n"
            "printf '%s\\n' \"$bench_output\"\n"
            f'bench_status {block.line} "$bench_rc" {expected}\n'
        )

    before = ""
    if wait is not None and "url" in wait.options:
        before = f"bench_wait_url {block.line} {shlex.quote(wait.options['url'])} {seconds:g}\n"
    return f"{before}{_ending(block.text)}bench_status {block.line} $? {expected}\n"


def _file(page: Page, block: Block) -> str:
    path = shlex.quote(block.title)
    folder = block.title.rpartition("/")[0]
    mkdir = f"mkdir -p {shlex.quote(folder)}\n" if folder else ""
    if not block.text.endswith("\n"):
        return f"{mkdir}printf '%s' {shlex.quote(block.text)} > {path}\n"
    marker = heredoc_marker(block.text, "BENCH_FILE")
    return f"{mkdir}cat > {path} <<'{marker}'\n{block.text}{marker}\n"


def _python(page: Page, block: Block) -> str:
    marker = heredoc_marker(block.text, "BENCH_PYTHON")
    return f"python - <<'{marker}'\n{_ending(block.text)}{marker}\nbench_status {block.line} $? 0\n"


_TRANSLATIONS = {"shell": _shell, "file": _file, "python": _python}


def heredoc_marker(text: str, base: str) -> str:
    """A heredoc end marker that no line of `text` is equal to."""
    lines = set(text.split("\n"))
    marker, count = base, 0
    while marker in lines:
        count += 1
        marker = f"{base}_{count}"
    return marker


def _ending(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _argument(block: Block, name: str) -> str | None:
    directive = block.directive(name)
    return directive.args[0] if directive is not None and directive.args else None


def _seconds(wait) -> float:
    if wait is None:
        return DEFAULT_WAIT_SECONDS
    return float(wait.options.get("timeout", DEFAULT_WAIT_SECONDS))


@dataclass(frozen=True)
class NamedObjects:
    """The containers and image tags that the pages' commands name, to check and clean by name."""

    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


def named_objects(pages: Iterable[Page]) -> NamedObjects:
    """What `docker run --name`, `build -t`, `tag` and `pull` in the pages' bash blocks name."""
    containers: dict[str, None] = {}
    images: dict[str, None] = {}
    for page in pages:
        for block in runnable_blocks(page):
            if block.kind != "shell":
                continue
            found_containers, found_images = _named_by(block.text)
            containers.update(dict.fromkeys(found_containers))
            images.update(dict.fromkeys(found_images))
    return NamedObjects(tuple(containers), tuple(images))


def _named_by(command: str) -> tuple[list[str], list[str]]:
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return [], []
    if not words or words[0] != "docker":
        return [], []

    words = words[1:]
    if words and words[0] in ("container", "image"):
        words = words[1:]
    if not words:
        return [], []
    verb, arguments = words[0], words[1:]

    if verb in ("run", "create"):
        return _option_values(arguments, "--name"), []
    if verb == "build":
        tags = _option_values(arguments, "-t") + _option_values(arguments, "--tag")
        return [], [ref for tag in tags if (ref := image_ref(tag))]
    if verb in ("tag", "pull"):
        operands = [word for word in arguments if not word.startswith("-")]
        ref = image_ref(operands[-1]) if operands else None
        return [], [ref] if ref else []
    return [], []


def _option_values(words: list[str], option: str) -> list[str]:
    values = []
    for index, word in enumerate(words):
        if word == option and index + 1 < len(words):
            values.append(words[index + 1])
        elif word.startswith(option + "="):
            values.append(word.partition("=")[2])
    return values
