"""The checks behind the Verification bullets, shared by the harness and the learner.

Each check reads: a file of the project, an image or container through the
Docker SDK, or a URL. None of them creates, changes or removes anything, so
the learner can run them against their own work at any time.

A check that cannot look at what it is about, because a thing it needs is
missing (an image, a container, a file), names that thing in
`Outcome.missing`. `python -m course check` reports only the first check that
finds a thing missing as failed, and later ones that need the same thing as
not checked.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors
from docker.utils.build import PatternMatcher

from .dockerfile import DockerfileError, Instruction, inherited, read_stages

log = logging.getLogger("course")

# What Exercise 2 asks `.dockerignore` to keep out of the build context, as
# one sample path each, and what it must let through for the image to build.
EXCLUDED_SAMPLES = {
    "__pycache__/": "__pycache__/main.cpython-311.pyc",
    "*.pyc": "stale.pyc",
    ".git": ".git/HEAD",
    "node_modules": "node_modules/left-pad/index.js",
    "*.log": "debug.log",
}
KEPT_SAMPLES = ("main.py", "requirements.txt")

# A container that was just started may need a moment before it answers.
ANSWER_PATIENCE_SECONDS = 10.0
# An app that fails at start (a missing module, say) exits within a second or
# two; until a container has run that long, "running" says little.
SETTLE_SECONDS = 3.0

# The files that list dependencies, which may be copied before they are
# installed. Anything else a COPY brings from the context is code: a change to
# it would make the builder run the install again.
MANIFEST_RE = re.compile(
    r"(?i).*(requirements|constraints).*|pyproject\.toml|setup\.cfg|pipfile(\.lock)?"
    r"|poetry\.lock|uv\.lock"
)
# A command that installs Python packages: pip in any of its spellings
# (`pip3`, `python -m pip`, `uv pip`, `pip --python ... install`), poetry,
# pipenv, or `uv sync`.
INSTALL_RE = re.compile(
    r"\b(?:pip(?:3(?:\.\d+)?)?|poetry|pipenv|pdm)\b[^;&|\n]*?\binstall\b|\buv\s+sync\b"
)


@dataclass(frozen=True)
class Outcome:
    """What one check found: whether it passed, a sentence saying why, and what was missing."""

    passed: bool
    detail: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """Where a check looks: the learner's project folder and a Docker client."""

    project: Path
    client: docker.DockerClient


@dataclass(frozen=True)
class Check:
    """A named check and the form its arguments take on a page.

    In `usage`, a bare word is a positional argument, `key=VALUE` an option
    the check needs, and `[key=VALUE]` one it may take.
    """

    name: str
    usage: str
    run: Callable[[Context, tuple[str, ...], Mapping[str, str]], Outcome]
    needs_engine: bool = True

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(word for word in self._words() if "=" not in word)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(w.split("=")[0] for w in self._words() if "=" in w and w[0] != "[")

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(w.strip("[").split("=")[0] for w in self._words() if w[0] == "[")

    def _words(self) -> list[str]:
        return self.usage.split()[2:]


class CheckUsageError(ValueError):
    """A check directive's arguments do not fit the check."""


def _arg(args: tuple[str, ...], index: int, check: str) -> str:
    if index >= len(args):
        raise CheckUsageError(f"'{check}' needs more arguments: {CHECKS[check].usage}")
    return args[index]


def _option(options: Mapping[str, str], key: str, check: str) -> str:
    if key not in options:
        raise CheckUsageError(f"'{check}' needs {key}=...: {CHECKS[check].usage}")
    return options[key]


def _image(ctx: Context, ref: str):
    try:
        return ctx.client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _container(ctx: Context, name: str):
    try:
        return ctx.client.containers.get(name)
    except docker.errors.NotFound:
        return None


def _no_image(ref: str) -> Outcome:
    return Outcome(False, f"there is no image tagged {ref}", missing=(f"the image {ref}",))


def dockerignore_excludes(ctx: Context, args, options) -> Outcome:
    ignore_file = ctx.project / ".dockerignore"
    if not ignore_file.is_file():
        return Outcome(False, f"there is no .dockerignore in {ctx.project}")

    lines = ignore_file.read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    matcher = PatternMatcher(patterns)

    let_through = [
        entry for entry, sample in EXCLUDED_SAMPLES.items() if not matcher.matches(sample)
    ]
    if let_through:
        return Outcome(False, ".dockerignore does not exclude " + ", ".join(let_through))

    kept_out = [name for name in KEPT_SAMPLES if matcher.matches(name)]
    if kept_out:
        return Outcome(
            False, ".dockerignore also excludes " + ", ".join(kept_out) + ", which the image needs"
        )

    return Outcome(True, ".dockerignore excludes " + ", ".join(EXCLUDED_SAMPLES))


def deps_before_code(ctx: Context, args, options) -> Outcome:
    name = _arg(args, 0, "deps-before-code")
    path = ctx.project / name
    if not path.is_file():
        return Outcome(False, f"there is no {name} in {ctx.project}", missing=(f"the file {name}",))

    try:
        stages = read_stages(path.read_text(encoding="utf-8"))
    except DockerfileError as error:
        return Outcome(False, f"{name} line {error.line}: {error.problem}")

    installs = []
    for stage in stages:
        history = inherited(stages, stage)
        install = next((i for i in history if i.keyword == "RUN" and _installs(i)), None)
        if install is None:
            continue
        installs.append(install.line)

        before = history[: history.index(install)]
        code = next((i for i in before if _code_copied(i, ctx.project)), None)
        if code is not None:
            copied = ", ".join(_named(source) for source in _code_copied(code, ctx.project))
            return Outcome(
                False,
                f"in {name}, {stage.label}: line {code.line} ({_short(code.shown())}) copies "
                f"{copied} before line {install.line} installs the dependencies, so a change "
                "to that code makes the build install them again",
            )

    if not installs:
        return Outcome(False, f"no RUN instruction in {name} installs the dependencies")
    lines = " and ".join(str(line) for line in sorted(set(installs)))
    return Outcome(True, f"{name} installs the dependencies (line {lines}) before copying code")


def _installs(run: Instruction) -> bool:
    return any(INSTALL_RE.search(text) for text in (run.arguments, *run.heredocs))


def _code_copied(instruction: Instruction, context: Path) -> list[str]:
    """What a COPY or ADD brings from the build context other than lists of dependencies."""
    if instruction.keyword not in ("COPY", "ADD") or "from" in instruction.flags():
        return []
    sources = instruction.operands()[:-1]
    return [
        source
        for source in sources
        if not source.startswith("<<") and "://" not in source and not _manifest(source, context)
    ]


def _manifest(source: str, context: Path) -> bool:
    """Whether a source names only files that list dependencies; a pattern, all it matches."""
    if not any(char in source for char in "*?["):
        return bool(MANIFEST_RE.fullmatch(Path(source.rstrip("/")).name or source))
    matched = list(context.glob(source.lstrip("/")))
    return bool(matched) and all(MANIFEST_RE.fullmatch(path.name) for path in matched)


def _named(source: str) -> str:
    return "the whole folder (.)" if source.rstrip("/") in (".", "") else source


def _short(text: str, width: int = 50) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def image_exists(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "image-exists")
    image = _image(ctx, ref)
    if image is not None:
        return Outcome(True, f"{ref} exists ({image.short_id})")

    repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    tags = sorted(
        tag.rsplit(":", 1)[1]
        for other in ctx.client.images.list(name=repository)
        for tag in other.tags
        if tag.rsplit(":", 1)[0] == repository
    )
    others = f"the tags of {repository}: {', '.join(tags)}" if tags else f"nor any of {repository}"
    return Outcome(
        False, f"there is no image tagged {ref} ({others})", missing=(f"the image {ref}",)
    )


def image_smaller(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "image-smaller")
    other_ref = _option(options, "than", "image-smaller")

    image, other = _image(ctx, ref), _image(ctx, other_ref)
    missing = [r for r, found in ((ref, image), (other_ref, other)) if found is None]
    if missing:
        return Outcome(
            False,
            "there is no image tagged " + " nor ".join(missing),
            missing=tuple(f"the image {r}" for r in missing),
        )

    size, other_size = image.attrs["Size"], other.attrs["Size"]
    figures = f"{ref} is {size / 1e6:.0f} MB, {other_ref} is {other_size / 1e6:.0f} MB"
    return Outcome(size < other_size, figures)


def non_root(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "non-root")
    image = _image(ctx, ref)
    if image is None:
        return _no_image(ref)

    user = image.attrs["Config"].get("User") or ""
    if user.split(":")[0] in ("", "root", "0"):
        return Outcome(False, f"{ref} runs as root (no USER, or USER root)")
    return Outcome(True, f"{ref} runs as user {user}")


def responds(ctx: Context, args, options) -> Outcome:
    url = _arg(args, 0, "responds")
    expected = options.get("contains", "")

    deadline = time.monotonic() + ANSWER_PATIENCE_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                body = response.read().decode("utf-8", "replace")
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            if time.monotonic() > deadline:
                return Outcome(False, f"nothing answers at {url} ({_reason(error)})")
            time.sleep(0.5)

    if expected not in body:
        return Outcome(False, f"{url} answered {body.strip()[:80]!r}, without {expected!r}")
    return Outcome(True, f"{url} answered {body.strip()[:80]!r}")


def _reason(error: Exception) -> str:
    return str(getattr(error, "reason", error))


def container_running(ctx: Context, args, options) -> Outcome:
    name = _arg(args, 0, "container-running")
    ref = options.get("image")
    image = _image(ctx, ref) if ref else None
    container = _container(ctx, name)

    if ref and image is None:
        # Without the image there is nothing the container could rightly run.
        there = f"{name} exists, but" if container else f"there is no container named {name}, and"
        return Outcome(False, f"{there} there is no image tagged {ref}", (f"the image {ref}",))
    if container is None:
        return Outcome(False, f"there is no container named {name}", (f"the container {name}",))
    if image is not None and container.attrs["Image"] != image.id:
        return Outcome(
            False,
            f"{name} runs another image than {ref} ({container.attrs['Config']['Image']}, "
            f"{container.attrs['Image'][7:19]}); remove it and start it again from {ref}",
        )

    container = _settled(container)
    state = container.attrs["State"]
    if container.status == "running":
        runs = f" {ref}" if ref else ""
        return Outcome(True, f"{name} is running{runs} ({container.short_id})")
    if container.status in ("exited", "dead"):
        return Outcome(
            False, f"{name} exited with status {state.get('ExitCode')}; {_last_log_line(container)}"
        )
    if container.status == "created":
        return Outcome(
            False, f"{name} was created but never started; `docker run` printed the reason"
        )
    return Outcome(False, f"{name} is {container.status}, not running")


def _settled(container):
    """The container as it is once it has been running for SETTLE_SECONDS, or now if longer."""
    started = _started_at(container.attrs["State"].get("StartedAt", ""))
    if container.status != "running" or started is None:
        return container

    age = (datetime.now(UTC) - started).total_seconds()
    if 0 <= age < SETTLE_SECONDS:
        log.info("waiting %.1f s for %s to settle", SETTLE_SECONDS - age, container.name)
        time.sleep(SETTLE_SECONDS - age)
        container.reload()
    return container


def _started_at(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _last_log_line(container) -> str:
    output = container.logs(stdout=True, stderr=True, tail=20).decode("utf-8", "replace")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"its log ends: {lines[-1]}" if lines else "its log is empty"


def registry_has(ctx: Context, args, options) -> Outcome:
    base, repo, tag = (_arg(args, i, "registry-has") for i in range(3))
    url = f"{base.rstrip('/')}/v2/{repo}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            tags = json.load(response).get("tags") or []
    except urllib.error.HTTPError as error:
        return Outcome(False, f"{url} answered {error.code}: the registry has no {repo}")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return Outcome(False, f"no registry answers at {base} ({_reason(error)})")

    if tag not in tags:
        return Outcome(False, f"the registry has {repo} with tags {tags}, not {tag}")
    return Outcome(True, f"the registry has {repo}:{tag}")


CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        Check("dockerignore-excludes", "check dockerignore-excludes", dockerignore_excludes, False),
        Check("deps-before-code", "check deps-before-code DOCKERFILE", deps_before_code, False),
        Check("image-exists", "check image-exists REF", image_exists),
        Check("image-smaller", "check image-smaller REF than=REF", image_smaller),
        Check("non-root", "check non-root REF", non_root),
        Check("responds", "check responds URL [contains=TEXT]", responds, False),
        Check("container-running", "check container-running NAME [image=REF]", container_running),
        Check("registry-has", "check registry-has URL REPO TAG", registry_has, False),
    )
}


def validate(name: str, args: tuple[str, ...], options: Mapping[str, str]) -> None:
    """Raise CheckUsageError when a check directive does not fit the check it names."""
    if name not in CHECKS:
        raise CheckUsageError(f"unknown check '{name}'; known checks: {', '.join(CHECKS)}")

    check = CHECKS[name]
    unknown = sorted(set(options) - set(check.required) - set(check.optional) - {"hint"})
    if len(args) != len(check.positional) or any(k not in options for k in check.required):
        raise CheckUsageError(f"'{name}' takes: {check.usage}")
    if unknown:
        raise CheckUsageError(
            f"'{name}' takes no option {', '.join(unknown)}; it takes: {check.usage}"
        )


def run_check(
    name: str, ctx: Context, args: tuple[str, ...], options: Mapping[str, str]
) -> Outcome:
    """Run one named check; an engine error becomes a failed outcome with its reason."""
    log.info("check %s %s", name, " ".join(args))
    try:
        outcome = CHECKS[name].run(ctx, args, options)
    except docker.errors.DockerException as error:
        return Outcome(False, f"the Docker engine did not answer: {error}")
    log.info("  %s: %s", "passed" if outcome.passed else "failed", outcome.detail)
    return outcome
