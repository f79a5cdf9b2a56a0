"""The warm build cache every timed run starts from, made again just before each run.

The legacy builder's cache is the chain of intermediate images, and at each
step it takes the newest image whose parent and instruction match. On an
engine that other people build on too, a newer sibling made by someone else
(the same `WORKDIR /app` on the same base, say) hides our chain, and the
steps after it are built again. So just before each timed run, under the
ports lock and outside the timing, the pages' own `docker build` commands
run again in the project as the page has it at that point, under our tags
instead of the pages': a second or two when the chain is the newest, a
rebuild that makes it the newest when it is not.

The pages also assume that a later page's image is newer than an earlier
page's (Exercise 2 lists `simple-app` tags newest first), as it is for a
learner going through them in order; when the cache would break that, the
later build is made again with `--no-cache`.

During a run, the engine's tag events say whether every build of the run
ended on the image made here, which is what "every step from the cache"
means for the run.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from course.parse import Block, Page
from tests.harness.ledger import image_ref

from . import log
from .build import Build
from .engine import Made
from .projects import Course, fresh_folder
from .script import runnable_blocks


@dataclass(frozen=True)
class PageBuild:
    """A `docker build` command of a page, and where it stands."""

    page: Page
    block: Block
    ref: str
    arguments: tuple[str, ...]  # without -t/--tag; the context path last


def page_builds(pages: tuple[Page, ...]) -> list[PageBuild]:
    """Every `docker build -t REF ...` the pages run, in page order."""
    builds = []
    for page in pages:
        for block in runnable_blocks(page):
            if block.kind != "shell":
                continue
            found = _build_command(block.text)
            if found is not None:
                ref, arguments = found
                builds.append(PageBuild(page, block, ref, arguments))
    return builds


def rewarm(course: Course, pages: tuple[Page, ...], made: Made, workdir: Path) -> dict[str, str]:
    """Build what the pages build, under our tags; return each page ref's image ID."""
    images: dict[str, str] = {}
    newest = ""
    for build in page_builds(pages):
        project = course.project_at(
            build.page, build.block.line, fresh_folder(workdir / "warm") / "project"
        )
        name = "keep:" + re.sub(r"[^A-Za-z0-9_.-]", "-", build.ref)
        result = _build(made, project, name, build, no_cache=False)
        image = made.api.inspect_image(made.ref(name))
        # A learner who goes through the pages in order has each page's
        # image newer than the last page's; the pages' output relies on it.
        if _created(image) < newest:
            log.info("rebuilding %s without the cache, to keep the pages' order", build.ref)
            result = _build(made, project, name, build, no_cache=True)
            image = made.api.inspect_image(made.ref(name))
        newest = max(newest, _created(image))
        images[build.ref] = image["Id"]
        made.kept[build.ref] = made.ref(name)
        log.debug(
            "warm: %s is %s (%d steps built)",
            build.ref,
            image["Id"][7:19],
            sum(
                not step.cached and not step.instruction.startswith("FROM") for step in result.steps
            ),
        )
    return images


class TagWatch:
    """The image IDs the engine tags each of `refs` with while the watch is open.

    It follows the engine's event stream as it happens: the engine keeps only
    its last few hundred events for a later query, fewer than a full docs run
    makes. `close` tags one of our own images with a marker and waits for that
    event, so that every tag event before it has been read.
    """

    def __init__(self, made: Made, refs: list[str]) -> None:
        self.made = made
        self.found: dict[str, set[str]] = {ref: set() for ref in refs}
        self.marker = made.ref("watch:marker")
        self._seen_marker = threading.Event()
        self._stream = made.api.events(filters={"type": "image", "event": "tag"}, decode=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                name = event.get("Actor", {}).get("Attributes", {}).get("name", "")
                if name == self.marker:
                    self._seen_marker.set()
                elif (ref := image_ref(name)) in self.found:
                    self.found[ref].add(event["Actor"]["ID"])
        except Exception:  # noqa: BLE001 - the stream ends by being closed under us
            pass

    def close(self, any_image: str | None) -> dict[str, set[str]]:
        """Stop watching, once every event up to now is read; `any_image` carries the marker."""
        if any_image is not None:
            repository, _, tag = self.marker.rpartition(":")
            self.made.api.tag(any_image, repository, tag)
            self.made.api.remove_image(self.marker, noprune=True)
            self._seen_marker.wait(timeout=10)
        self._stream.close()
        self._thread.join(timeout=5)
        return self.found


def was_warm(tagged: dict[str, set[str]], expected: dict[str, str]) -> tuple[bool, str]:
    """Whether every build ended on the warmed image; and what it ended on if not."""
    wrong = {ref: ids for ref, ids in tagged.items() if ids != {expected[ref]}}
    if not wrong:
        return True, ""
    return False, "; ".join(
        f"{ref} was tagged on {', '.join(i[7:19] for i in sorted(ids)) or 'nothing'}, "
        f"not the warmed {expected[ref][7:19]}"
        for ref, ids in wrong.items()
    )


def _created(image: dict) -> str:
    """The image's creation time as a string that sorts (the engine trims trailing zeros)."""
    stamp = image["Created"].rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    return f"{whole}.{fraction.split('+')[0]:0<9}"


def _build(made: Made, project: Path, name: str, build: PageBuild, no_cache: bool) -> Build:
    arguments = ["--no-cache", *build.arguments] if no_cache else list(build.arguments)
    result = made.build(project, name, arguments)
    if result.status != 0:
        raise RuntimeError(result.failure(f"warming the cache with {build.ref}"))
    return result


def _build_command(text: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    if words[:2] == ["docker", "image"]:
        words = ["docker", *words[2:]]
    if words[:2] != ["docker", "build"]:
        return None

    ref, arguments, rest = None, [], iter(words[2:])
    for word in rest:
        if word in ("-t", "--tag"):
            ref = ref or image_ref(next(rest, ""))
        elif word.startswith("--tag="):
            ref = ref or image_ref(word.partition("=")[2])
        else:
            arguments.append(word)
    return (ref, tuple(arguments)) if ref else None
