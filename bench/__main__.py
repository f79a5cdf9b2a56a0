"""`python -m bench`: measure the harness and the course, print the table, write the JSON.

Exit status: 0 when every target is met, 1 when one is missed or a figure
could not be measured, 2 when the benchmark could not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import log

ROOT = Path(__file__).resolve().parent.parent

SECTIONS = ("overhead", "images", "cache", "context", "site")
TITLES = {
    "overhead": (1, "harness overhead"),
    "images": (2, "image sizes"),
    "cache": (3, "cache reuse"),
    "context": (4, "build context"),
    "site": (5, "site build"),
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _logging(args.verbose - args.quiet)
    wanted = _wanted(parser, args.only)

    from course.parse import PageError
    from course.render import RenderError

    from . import cache, context, images, overhead, site
    from .engine import CannotStart, Made, connect
    from .projects import Course, snapshot
    from .report import Section, as_json, table, write_json

    try:
        client = connect()
    except CannotStart as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    token = f"{os.getpid()}-{secrets.token_hex(3)}"
    made = Made(client.api, token)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    logs = args.json.parent / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started, sections = time.monotonic(), []
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    # A stopped job (SIGTERM) still removes what the benchmark made.
    signal.signal(signal.SIGTERM, _interrupt)

    def section(name, measure):
        number, title = TITLES[name]
        if name not in wanted:
            return
        log.info("%d. %s", number, title)
        try:
            sections.append(measure())
        except Exception as error:  # noqa: BLE001 - reported in the table, never swallowed
            log.exception("%s could not be measured", title)
            failed = Section(number, title)
            failed.failed([(title, "", None)], f"{type(error).__name__}: {error}")
            sections.append(failed)

    try:
        try:
            course = Course.load(snapshot(ROOT, workdir / "checkout"))
            extra = _extra(course.config)
        except (RenderError, PageError) as error:
            print(
                f"bench: the pages cannot be read, so nothing can be run: {error}", file=sys.stderr
            )
            return 2
        section(
            "overhead",
            lambda: overhead.measure(
                course, client, made, args.pairs, not args.no_proxy, logs, workdir
            ),
        )
        section("images", lambda: images.measure(course, client, made, extra, workdir))
        section("cache", lambda: cache.measure(course, made, workdir, logs))
        section("context", lambda: context.measure(course, workdir, token))
        section("site", lambda: site.measure(course.config, args.site_runs))
    finally:
        cleanup_problems = made.remove()
        shutil.rmtree(workdir, ignore_errors=True)

    sections.sort(key=lambda each: each.number)
    printed = table(sections)
    if cleanup_problems:
        printed += "\n\nClean-up left something behind:\n" + "\n".join(cleanup_problems)
    if made.left:
        printed += (
            "\n\nLeft on the engine, because other clients' images now build on them "
            "(they go when those do): " + ", ".join(made.left)
        )
    print(printed)

    about = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": started_at,
        "seconds": round(time.monotonic() - started, 1),
        "cpus": os.cpu_count(),
        "engine": client.version().get("Version"),
        "pairs": args.pairs,
        "logs": str(logs),
        "cleanup_problems": cleanup_problems,
        "left_for_other_clients": made.left,
    }
    write_json(args.json, as_json(sections, about))
    print(f"\nFigures written to {args.json}; each run's output in {logs}/")

    failed = any(f.missed or f.result == "NOT MEASURED" for s in sections for f in s.figures)
    return 1 if failed or cleanup_problems else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure what the harness costs over plain bash, and the course's images.",
        epilog="Exit status: 0 every target met, 1 a target missed or a figure not measured.",
    )
    parser.add_argument(
        "--pairs",
        type=_positive,
        default=5,
        help="interleaved harness/plain pairs per comparison (default 5)",
    )
    parser.add_argument(
        "--site-runs",
        type=_positive,
        default=5,
        help="mkdocs build runs to take the median of (default 5)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "artifacts" / "bench.json",
        help="where to write the figures (default artifacts/bench.json)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="comma-separated parts to run, of: " + ", ".join(SECTIONS),
    )
    parser.add_argument(
        "--no-proxy",
        action="store_true",
        help="leave out the plain runs through the harness's proxy",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="log less")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _wanted(parser: argparse.ArgumentParser, only: str) -> set[str]:
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - set(SECTIONS)
    if unknown:
        parser.error(f"no part called {', '.join(sorted(unknown))}; parts: {', '.join(SECTIONS)}")
    return wanted


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bench: %(message)s"))
    log.addHandler(handler)
    log.setLevel(
        {-1: logging.WARNING, 0: logging.INFO}.get(
            level, logging.DEBUG if level > 0 else logging.ERROR
        )
    )
    log.propagate = False


def _extra(config: Path) -> dict:
    """The course's shared names, from mkdocs.yml as MkDocs reads it."""
    from mkdocs.config import load_config

    return dict(load_config(str(config))["extra"])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ImportError as error:
        print(
            f"bench: {error}; run it with the project's Python: .venv/bin/python -m bench "
            "(scripts/venv creates .venv)",
            file=sys.stderr,
        )
        sys.exit(2)
