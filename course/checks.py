"""The checks behind the Verification bullets, shared by the harness and the learner.

Each check reads: a file of the project, an image or container through the
Docker SDK, or a URL. None of them creates, changes or removes anything, so
the learner can run them against their own work at any time.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.utils.build import PatternMatcher

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


@dataclass(frozen=True)
class Outcome:
    """What one check found: whether it passed, and a sentence saying why."""

    passed: bool
    detail: str


@dataclass(frozen=True)
class Context:
    """Where a check looks: the learner's project folder and a Docker client."""

    project: Path
    client: docker.DockerClient


@dataclass(frozen=True)
class Check:
    """A named check and the form its arguments take on a page."""

    name: str
    usage: str
    run: Callable[[Context, tuple[str, ...], Mapping[str, str]], Outcome]
    needs_engine: bool = True


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


def image_exists(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "image-exists")
    image = _image(ctx, ref)
    if image is None:
        return Outcome(False, f"there is no image tagged {ref}")
    return Outcome(True, f"{ref} exists ({image.short_id})")


def image_smaller(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "image-smaller")
    other_ref = _option(options, "than", "image-smaller")

    image, other = _image(ctx, ref), _image(ctx, other_ref)
    missing = [r for r, found in ((ref, image), (other_ref, other)) if found is None]
    if missing:
        return Outcome(False, "there is no image tagged " + " nor ".join(missing))

    size, other_size = image.attrs["Size"], other.attrs["Size"]
    figures = f"{ref} is {size / 1e6:.0f} MB, {other_ref} is {other_size / 1e6:.0f} MB"
    return Outcome(size < other_size, figures)


def non_root(ctx: Context, args, options) -> Outcome:
    ref = _arg(args, 0, "non-root")
    image = _image(ctx, ref)
    if image is None:
        return Outcome(False, f"there is no image tagged {ref}")

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
    try:
        container = ctx.client.containers.get(name)
    except docker.errors.NotFound:
        return Outcome(False, f"there is no container named {name}")
    if container.status != "running":
        return Outcome(False, f"{name} is {container.status}, not running")
    return Outcome(True, f"{name} is running ({container.short_id})")


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
        Check("image-exists", "check image-exists REF", image_exists),
        Check("image-smaller", "check image-smaller REF than=REF", image_smaller),
        Check("non-root", "check non-root REF", non_root),
        Check("responds", "check responds URL contains=TEXT", responds, False),
        Check("container-running", "check container-running NAME", container_running),
        Check("registry-has", "check registry-has URL REPO TAG", registry_has, False),
    )
}


def validate(name: str, args: tuple[str, ...], options: Mapping[str, str]) -> None:
    """Raise CheckUsageError when a check directive names no known check or misses arguments."""
    if name not in CHECKS:
        raise CheckUsageError(f"unknown check '{name}'; known checks: {', '.join(CHECKS)}")

    needed_args = [word for word in CHECKS[name].usage.split()[2:] if "=" not in word]
    needed_options = [word.split("=")[0] for word in CHECKS[name].usage.split()[2:] if "=" in word]
    if len(args) < len(needed_args) or any(key not in options for key in needed_options):
        raise CheckUsageError(f"'{name}' takes: {CHECKS[name].usage}")


def run_check(
    name: str, ctx: Context, args: tuple[str, ...], options: Mapping[str, str]
) -> Outcome:
    """Run one named check; an engine error becomes a failed outcome with its reason."""
    try:
        return CHECKS[name].run(ctx, args, options)
    except docker.errors.DockerException as error:
        return Outcome(False, f"the Docker engine did not answer: {error}")
