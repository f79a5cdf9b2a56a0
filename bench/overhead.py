"""Part 1: what the harness costs over the same commands run by a plain bash script.

Two comparisons: the full docs run (`pytest docs`) against every page's plain
script, and one page (`pytest docs/exercise-2.md`, which brings Exercise 1)
against the plain scripts of the same two pages. The runs are interleaved,
and the order turns round at each pair, so that a machine getting slower or
faster during the benchmark weighs on both sides alike.

Every run starts from the same warm build cache (bench/warm.py), made again
just before it, under the ports lock and outside its timing. A run whose
builds did not all end on the warmed images (another client's build hid our
cache meanwhile) is reported, left out of the median, and run again.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from course.parse import Page

from . import log
from .engine import Made, before_run
from .lock import ports_lock
from .plain import Run, cpu_seconds, run_plain
from .projects import Course
from .report import Figure, Section
from .script import NamedObjects, named_objects
from .warm import TagWatch, rewarm, was_warm

ONE_PAGE = "exercise-2.md"
FULL_TARGET = 1.05
ONE_PAGE_TARGET = 1.10
# Runs again of a run that did not start warm, before giving up on it.
RETRIES = 2


@dataclass(frozen=True)
class Comparison:
    label: str
    pages: tuple[Page, ...]
    pytest_args: tuple[str, ...]
    target: float
    with_proxy: bool


def measure(
    course: Course, client, made: Made, pairs: int, proxied: bool, logs: Path, workdir: Path
) -> Section:
    """The full run and the one page, each as `pairs` interleaved harness/plain pairs."""
    section = Section(1, "harness overhead (interleaved A/B, warm build cache)")
    one = course.with_prerequisites(ONE_PAGE)
    comparisons = (
        Comparison("full run", course.runnable(), ("docs",), FULL_TARGET, False),
        Comparison("one page", one, (f"docs/{ONE_PAGE}",), ONE_PAGE_TARGET, proxied),
    )
    section.notes += [
        f"Full run: {_names(course.runnable())}. One page: {_names(one)} ({ONE_PAGE} requires "
        "the page before it, which `pytest` runs first, so the plain side runs both too).",
        "Harness: `python -m pytest ARGS -q` in the benchmark's snapshot of the checkout (taken "
        "at the start, .git included, so that edits made meanwhile neither fail a run, as the "
        "harness fails a page when the checkout changes under it, nor change what is measured "
        "halfway), as a contributor runs it. "
        "Plain: the same pages, rendered and parsed by course.render and course.parse, each "
        "page's bash, file and Python blocks written as one bash script (bench/script.py) and "
        "run in a fresh scratch copy of sample_app prepared by tests/harness/project.py, with "
        "the harness's own shell environment; output blocks and checks are not compared, "
        "skipped blocks are left out as the harness leaves them out.",
        "Warm: the docker CLI here uses the legacy builder, whose cache is the chain of "
        "intermediate images, and removing an image (as the harness does at the end with every "
        "image its run made) removes that part of the cache too. So just before each timed "
        "run, under the ports lock and outside its timing, the benchmark runs the pages' "
        "`docker build` commands under its own tags (docker-course-bench/keep:*), so that "
        "the run's builds take every step from the cache, make no layer, and end on the "
        "images made there; the harness's clean-up then only untags. The engine's tag events "
        "show, for each run, whether its builds ended on exactly those images; a run for "
        "which they did not was not warm, is listed below, and was run again.",
        "Clean-up of the plain runs: before each, the benchmark refuses to start if a "
        "container the pages name exists, and notes which image each tag the pages name "
        "pointed at; after it, it removes those containers, removes those tags (or points a "
        "user's tag back), and removes only images that the builds' own output names and that "
        "did not exist before the run: inside the plain run's timing. It does not use the "
        "harness's EngineProxy and Ledger, because the proxy is part of what is measured: "
        "the 'plain via proxy' runs send the same scripts through it (and clean up with its "
        "Ledger) to show its share.",
    ]
    for comparison in comparisons:
        runs = _interleaved(course, client, made, comparison, pairs, logs, workdir)
        _figures(section, comparison, runs, _collection(course, comparison, pairs))

    return section


def _interleaved(course, client, made, comparison: Comparison, pairs, logs, workdir) -> list[Run]:
    named = named_objects(comparison.pages)
    variants = ["harness", "plain"] + (["plain via proxy"] if comparison.with_proxy else [])
    runs = []
    for pair in range(pairs):
        turn = pair % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            for attempt in range(1 + RETRIES):
                name = f"{comparison.pytest_args[0].replace('/', '_')}-{variant.replace(' ', '_')}"
                log_file = logs / f"{name}-{pair + 1}{'-again' * attempt}.log"
                run = _one_run(course, client, made, comparison, variant, named, log_file, workdir)
                log.info(
                    "%s, %s, pair %d: %.1f s%s",
                    " ".join(comparison.pytest_args),
                    variant,
                    pair + 1,
                    run.seconds,
                    _state(run),
                )
                runs.append(run)
                if run.warm or not run.ok:
                    break
    return runs


def _one_run(course, client, made, comparison, variant, named, log_file, workdir) -> Run:
    with ports_lock():
        expected = rewarm(course, comparison.pages, made, workdir)
        watch = TagWatch(made, list(expected))
        try:
            if variant == "harness":
                run = run_harness(course, client, named, list(comparison.pytest_args), log_file)
            else:
                proxied = variant == "plain via proxy"
                run = run_plain(
                    course, comparison.pages, client, named, made, log_file, proxied=proxied
                )
        finally:
            tagged = watch.close(next(iter(expected.values()), None))
    warm, detail = was_warm(tagged, expected)
    return replace(run, warm=warm, warm_detail=detail)


def run_harness(
    course: Course, client, named: NamedObjects, pytest_args: list[str], log_file: Path
) -> Run:
    """`pytest ARGS -q` with the harness in the course's checkout, timed from start to exit."""
    # Not part of the timing: only so that a collision is reported as one.
    before_run(client.api, named.containers, ())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest", *pytest_args, "-q"]

    started, cpu = time.monotonic(), cpu_seconds()
    done = subprocess.run(
        command,
        cwd=course.root,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu

    log_file.write_text(done.stdout, encoding="utf-8")
    problem = ""
    if done.returncode != 0:
        failures = [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]
        problem = f"pytest exited with {done.returncode} ({log_file.name}): " + " | ".join(
            failures[:3] or done.stdout.rstrip().splitlines()[-3:]
        )
    return Run("harness", seconds, done.returncode == 0, problem, cpu_seconds=cpu)


def _collection(course: Course, comparison: Comparison, runs: int) -> Figure:
    """What the harness spends before running a block: start-up, rendering, collection."""
    command = [sys.executable, "-m", "pytest", *comparison.pytest_args, "--collect-only", "-q"]
    seconds = []
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(command, cwd=course.root, capture_output=True, text=True)
        seconds.append(time.monotonic() - started)
        if done.returncode != 0:
            return Figure(
                f"{comparison.label}: of which collecting", None, "s", note=done.stdout[-400:]
            )
    return Figure(
        f"{comparison.label}: of which collecting, median of {runs}",
        statistics.median(seconds),
        "s",
        note=f"pytest {' '.join(comparison.pytest_args)} --collect-only -q: start-up, "
        "rendering and parsing the pages, no block run",
        samples=tuple(round(second, 2) for second in seconds),
    )


def _figures(section: Section, comparison: Comparison, runs: list[Run], collecting) -> None:
    label = comparison.label
    counted = [run for run in runs if run.ok and run.warm]
    by_variant: dict[str, list[Run]] = {}
    for run in counted:
        by_variant.setdefault(run.variant, []).append(run)
    variants = ["harness", "plain"] + (["plain via proxy"] if comparison.with_proxy else [])
    medians = {
        variant: statistics.median(run.seconds for run in by_variant[variant])
        for variant in variants
        if by_variant.get(variant)
    }

    for variant in variants:
        group = by_variant.get(variant, [])
        shown = f"pytest {' '.join(comparison.pytest_args)}" if variant == "harness" else variant
        section.add(
            Figure(
                f"{label}: {shown}, median of {len(group)}",
                medians.get(variant),
                "s",
                samples=tuple(round(run.seconds, 2) for run in group),
            )
        )

    failed = [run for run in runs if not run.ok]
    cold = [run for run in runs if run.ok and not run.warm]
    ratio = None
    if "harness" in medians and "plain" in medians:
        ratio = medians["harness"] / medians["plain"]
    reason = "; ".join(f"{run.variant}: {run.problem}" for run in failed)
    section.add(Figure(f"{label}: harness / plain", ratio, "x", comparison.target, note=reason))
    if "plain via proxy" in medians and "plain" in medians:
        share = medians["plain via proxy"] / medians["plain"]
        section.add(Figure(f"{label}: plain via proxy / plain", share, "x"))
    section.add(collecting)
    if ratio is not None and ratio > comparison.target:
        gap = medians["harness"] - medians["plain"]
        proxy = medians.get("plain via proxy", medians["plain"]) - medians["plain"]
        parts = [f"{collecting.value or 0:.1f} s start-up, rendering and collection"]
        if "plain via proxy" in medians:
            parts.append(f"{proxy:.1f} s the proxy (plain via proxy - plain)")
        rest = gap - (collecting.value or 0) - (proxy if "plain via proxy" in medians else 0)
        section.notes.append(
            f"{label}: the harness took {gap:.1f} s more than plain, and ≤ {comparison.target:g} "
            f"allows {(comparison.target - 1) * medians['plain']:.1f} s. Of the gap, "
            + ", ".join(parts)
            + f"; the remaining {rest:.1f} s is pytest's own work per item, the hidden checks "
            "and the harness's per-block bookkeeping."
        )
    cpu = {
        variant: statistics.median(run.cpu_seconds for run in group)
        for variant, group in by_variant.items()
    }
    if "harness" in cpu and "plain" in cpu:
        section.add(
            Figure(
                f"{label}: CPU time, harness - plain (medians)",
                cpu["harness"] - cpu["plain"],
                "s",
                note="user + system time of each side's processes, containers aside",
            )
        )
        section.notes.append(
            f"{label}: CPU time (user + system, of the processes each side started; "
            "the engine's and the containers' own aside), medians: "
            + ", ".join(f"{variant} {seconds:.1f} s" for variant, seconds in cpu.items())
            + "."
        )

    order = ", ".join(f"{run.variant} {run.seconds:.1f}{_state(run)}" for run in runs)
    section.notes.append(f"{label}, every run in the order it ran (s): {order}.")
    if failed:
        section.notes.append(f"{label}: {len(failed)} run(s) failed and are not counted: {reason}")
    if cold:
        section.notes.append(
            f"{label}: {len(cold)} run(s) did not start warm and are not counted: "
            + "; ".join(f"{run.variant}: {run.warm_detail}" for run in cold)
        )
    plain = [run for run in counted if run.rebuilt_steps is not None]
    if plain:
        section.notes.append(
            f"{label}: in the counted plain runs, {plain[0].cached_steps} build steps came from "
            f"the cache and {max(run.rebuilt_steps for run in plain)} were built (most in a run)."
        )


def _state(run: Run) -> str:
    if not run.ok:
        return " (failed)"
    return "" if run.warm else " (not warm)"


def _names(pages: tuple[Page, ...]) -> str:
    return " + ".join(Path(page.path).stem for page in pages)
