"""The docs plugin end to end, on the small sample site in tests/plugin_samples/.

Each test copies the site into pytester's folder and runs pytest on some of
its pages with the harness loaded and no Docker engine: the sample pages call
no docker command. What a test asserts is what a contributor sees, the ids,
the order, the skip reasons and the failure reports, and never how the
harness arrives at it.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "plugin_samples"
SITE = SAMPLES / "site"
BROKEN = SAMPLES / "broken"

# What would show that a report came from the harness's own code rather
# than from the page.
HARNESS_TRACES = ("tests/harness/", "pagerun.py", "plugin.py", "shell.py", "Traceback")

# Every sample page that fails, once, by kind of failure.
FAILING_PAGES = (
    "mismatch.md",
    "failure.md",
    "timeout.md",
    "wait_url.md",
    "wait_text.md",
    "exit_status.md",
    "check.md",
)

SECTION_RULE = re.compile(r"^(_+|=+) .* (_+|=+)$")


@dataclass
class SampleSite:
    """The sample site in pytester's folder, and the harness run on it."""

    pytester: pytest.Pytester
    root: Path
    trace: Path
    port: int
    dead_port: int

    def run(self, *args: str, engine: bool = False, alone: bool = False) -> pytest.RunResult:
        """Run pytest on the site with the harness; `args` name pages and options.

        The run is in this process, which is quick, unless `alone` asks for a
        process of its own, where nothing this session registered is known.
        """
        options = ["-p", "tests.harness.plugin", "--docs-config", "mkdocs.yml"]
        options += ["-p", "no:cacheprovider", "-v", "-rs"]
        if not engine:
            options.append("--docs-without-engine")
        if alone:
            return self.pytester.runpytest_subprocess(*options, *args)
        return self.pytester.runpytest(*options, *args)

    def fence(self, page: str, text: str) -> int:
        """The line of the fence that opens the first block of `page` holding `text`."""
        return next(line for line, body in self.blocks(page) if text in body)

    def output_of(self, page: str, text: str) -> int:
        """The line of the fence of the block after the first block holding `text`."""
        lines = [line for line, _ in self.blocks(page)]
        return lines[lines.index(self.fence(page, text)) + 1]

    def line(self, page: str, text: str) -> int:
        """The line of `page` holding `text`, as for a check directive."""
        return next(n for n, line in enumerate(self.source(page), start=1) if text in line)

    def blocks(self, page: str) -> list[tuple[int, str]]:
        """Each fenced block of `page`: the line of its opening fence, and its text."""
        found, opened, body = [], None, []
        for number, line in enumerate(self.source(page), start=1):
            if not line.lstrip().startswith("```"):
                body.append(line)
            elif opened is None:
                opened, body = number, []
            else:
                found.append((opened, "\n".join(body)))
                opened = None
        return found

    def source(self, page: str) -> list[str]:
        return (self.root / "docs" / page).read_text().splitlines()

    def add_broken_page(self, name: str, in_nav: bool = True) -> None:
        """Put a page of plugin_samples/broken/ into the site, last in its nav if `in_nav`."""
        shutil.copy(BROKEN / name, self.root / "docs" / name)
        if not in_nav:
            return
        config = self.root / "mkdocs.yml"
        lines = config.read_text().splitlines()
        end = lines.index("nav:") + 1
        while lines[end].startswith("  - "):
            end += 1
        lines.insert(end, f"  - {name}")
        config.write_text("\n".join(lines) + "\n")

    def traced(self) -> list[str]:
        """What the pages wrote to $SAMPLE_TRACE, line by line."""
        return self.trace.read_text().splitlines() if self.trace.exists() else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(pytester, tmp_path, monkeypatch) -> SampleSite:
    """The sample site copied into pytester's folder, with ports and a trace file of its own."""
    # A folder of its own, where the runs work too: pytester writes the output
    # of a run in another process into its own folder while the run goes on,
    # and the harness's guard on the checkout would see that file change.
    root = pytester.path / "site"
    shutil.copytree(SITE, root)
    monkeypatch.chdir(root)
    sample = SampleSite(pytester, root, tmp_path / "trace.txt", _free_port(), _free_port())
    monkeypatch.setenv("SAMPLE_TRACE", str(sample.trace))
    monkeypatch.setenv("SAMPLE_PORT", str(sample.port))
    monkeypatch.setenv("SAMPLE_DEAD_PORT", str(sample.dead_port))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return sample


def sections(result: pytest.RunResult, heading: str) -> dict[str, list[str]]:
    """The report sections under `heading` (FAILURES, ERRORS): title to non-empty lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    inside = False
    for line in result.outlines:
        if SECTION_RULE.match(line):
            title = line.strip("_= ")
            if line.startswith("="):
                inside, current = title == heading, None
            elif inside:
                current = found.setdefault(title, [])
        elif current is not None and line.strip():
            current.append(line)
    return found


def report_of(result: pytest.RunResult, page: str, line: int) -> str:
    """The failure report of the block at `page`:`line`."""
    for title, lines in sections(result, "FAILURES").items():
        if title.startswith(f"docs/{page}:{line} "):
            return "\n".join(lines)
    raise AssertionError(f"no failure report for docs/{page}:{line} in:\n{result.stdout}")


def assert_nothing_ran(result: pytest.RunResult) -> None:
    """The run stopped before any block, and said why without the harness's traceback."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) >= 1
    assert not {"passed", "failed", "skipped"} & outcomes.keys(), outcomes
    assert not any(trace in result.stdout.str() for trace in HARNESS_TRACES)


def not_run(page: str, line: int) -> str:
    """The reason a block gives when docs/`page`:`line` failed before it."""
    return f"not run: docs/{page}:{line} failed before it"


def test_items_are_named_after_page_and_line_and_run_in_page_order(site):
    result = site.run("docs/basics.md")

    expected = [f"docs/basics.md::line-{line} PASSED*" for line, _ in site.blocks("basics.md")]
    result.stdout.fnmatch_lines(expected, consecutive=True)
    result.assert_outcomes(passed=len(expected))


def test_the_directory_and_variables_carry_from_block_to_block(site):
    result = site.run("docs/basics.md")

    output = site.fence("basics.md", "hello learner in notes")
    result.stdout.fnmatch_lines([f"docs/basics.md::line-{output} PASSED*"])


def test_a_file_block_is_saved_in_the_scratch_project_and_a_later_cat_shows_it(site):
    result = site.run("docs/basics.md")

    # Before the page saves it, the file is not in the scratch project even
    # though sample_app has it; after, `cat` prints what the page shows,
    # macros expanded; the checkout's copy is left as it was.
    before = site.fence("basics.md", "readme.txt")
    after = site.fence("basics.md", "WATER THE PLANTS")
    result.stdout.fnmatch_lines(
        [f"docs/basics.md::line-{before} PASSED*", f"docs/basics.md::line-{after} PASSED*"]
    )
    kept = site.root / "sample_app" / "notes" / "todo.txt"
    assert kept.read_text() == "a stale copy the page replaces\n"


def test_each_wildcard_matches_what_docker_prints_in_its_place(site):
    result = site.run("docs/wildcards.md")

    result.assert_outcomes(passed=len(site.blocks("wildcards.md")))


def test_an_output_mismatch_shows_the_command_and_a_diff_naming_both_texts(site):
    result = site.run("docs/mismatch.md")

    output, command = site.fence("mismatch.md", "0.2.0"), site.fence("mismatch.md", "printf")
    report = report_of(result, "mismatch.md", output)
    assert report.startswith(
        f"docs/mismatch.md:{output}: the output of the command at line {command} "
        "does not match the page"
    )
    assert "printf 'Hello from simple-app 0.1.0!" in report
    # The wildcard's line is shown as printed, so only the real difference is marked.
    for line in ("-Hello from simple-app 0.2.0!", "+Hello from simple-app 0.1.0!", " status: <ok>"):
        assert f"    {line}" in report.splitlines()


def test_a_failing_command_reports_page_line_command_status_and_last_lines(site):
    result = site.run("docs/failure.md")

    line = site.fence("failure.md", "seq 1 40")
    report = report_of(result, "failure.md", line).splitlines()
    assert report[0].startswith(f"docs/failure.md:{line}: exited with status 2")
    assert report[1:5] == ["command:", "    seq 1 40; ls no-such-file", "exit status:", "    2"]
    assert report[5] == "last 30 lines of output:"
    tail = [text.strip() for text in report[6:]]
    assert tail == [str(n) for n in range(12, 41)] + [
        "ls: cannot access 'no-such-file': No such file or directory"
    ]


def test_a_block_after_a_failed_one_is_skipped_as_not_run_because_of_it(site):
    result = site.run("docs/failure.md")

    failed = site.fence("failure.md", "seq 1 40")
    later = site.fence("failure.md", "never printed")
    result.stdout.fnmatch_lines(
        [f"SKIPPED [1] docs/failure.md:{later}: {not_run('failure.md', failed)}"]
    )
    result.assert_outcomes(failed=1, skipped=1)


def test_a_page_that_requires_a_failed_page_is_not_run_because_of_it(site):
    result = site.run("docs/after_failure.md")

    failed = site.fence("failure.md", "seq 1 40")
    later = site.fence("after_failure.md", "builds on failure.md")
    result.stdout.fnmatch_lines(
        [f"SKIPPED [1] docs/after_failure.md:{later}: {not_run('failure.md', failed)}"]
    )
    result.assert_outcomes(failed=1, skipped=2)


def test_no_failure_report_shows_a_frame_of_the_harness(site):
    result = site.run(*(f"docs/{page}" for page in FAILING_PAGES))

    reports = sections(result, "FAILURES")
    assert len(reports) == len(FAILING_PAGES), result.stdout.str()
    for title, lines in reports.items():
        for line in lines:
            assert not any(trace in line for trace in HARNESS_TRACES), f"{title}: {line}"
    assert "Traceback" not in result.stdout.str()


def test_a_block_past_its_timeout_is_killed_and_the_report_names_the_deadline(site):
    started = time.monotonic()
    result = site.run("docs/timeout.md")
    seconds = time.monotonic() - started

    line = site.fence("timeout.md", "sleep 30")
    report = report_of(result, "timeout.md", line).splitlines()
    assert report[0].startswith(
        f"docs/timeout.md:{line}: did not finish within its deadline of 1 s and was killed"
    )
    assert report[1:5] == ["command:", "    sleep 30", "exit status:", "    none (killed)"]
    assert seconds < 15, f"the 30 s sleep was not cut short: the run took {seconds:.0f} s"
    later = site.fence("timeout.md", "after the timeout")
    result.stdout.fnmatch_lines(
        [f"SKIPPED [1] docs/timeout.md:{later}: {not_run('timeout.md', line)}"]
    )


def test_wait_for_url_runs_the_block_once_the_server_answers_and_names_a_url_that_never_does(
    site,
):
    result = site.run("docs/wait_url.md")

    served = [site.fence("wait_url.md", text) for text in ("http.server", "curl", "Notes of")]
    result.stdout.fnmatch_lines([f"docs/wait_url.md::line-{line} PASSED*" for line in served])
    line = site.fence("wait_url.md", "not run: nothing answered")
    report = report_of(result, "wait_url.md", line)
    assert report.startswith(
        f"docs/wait_url.md:{line}: http://127.0.0.1:{site.dead_port}/ did not answer within 1 s ("
    )
    assert "the block after <!-- test: wait-for url=... --> was not run" in report


def test_wait_for_text_reruns_the_block_until_the_text_appears_and_names_a_text_that_never_does(
    site,
):
    result = site.run("docs/wait_text.md")

    ready = [site.fence("wait_text.md", "status.txt 2>"), site.output_of("wait_text.md", "2>")]
    result.stdout.fnmatch_lines([f"docs/wait_text.md::line-{line} PASSED*" for line in ready])
    line = site.fence("wait_text.md", "still starting")
    report = report_of(result, "wait_text.md", line).splitlines()
    assert report[0].startswith(
        f"docs/wait_text.md:{line}: its output did not contain 'finished' within 2 s"
    )
    assert report[-1].strip() == "still starting"


def test_exit_status_expects_that_status_and_fails_on_any_other_zero_included(site):
    result = site.run("docs/exit_status.md")

    expected = site.fence("exit_status.md", "(exit 3)")
    result.stdout.fnmatch_lines([f"docs/exit_status.md::line-{expected} PASSED*"])
    line = site.fence("exit_status.md", "true")
    report = report_of(result, "exit_status.md", line).splitlines()
    assert report[0].startswith(
        f"docs/exit_status.md:{line}: exited with status 0, and the page expects 2"
    )


def test_a_skipped_block_shows_its_reason_at_its_line_and_the_page_goes_on(site):
    result = site.run("docs/skip.md")

    skipped = site.fence("skip.md", "xdg-open")
    after = site.fence("skip.md", "runs after the skipped block")
    result.stdout.fnmatch_lines(
        [
            f"docs/skip.md::line-{after} PASSED*",
            f"SKIPPED [1] docs/skip.md:{skipped}: opens the reader's own browser",
        ]
    )
    result.assert_outcomes(passed=1, skipped=1)


def test_a_check_runs_where_it_stands_and_a_failing_one_names_its_bullet(site):
    result = site.run("docs/check.md")

    passing = site.line("check.md", "<!-- test: check dockerignore-excludes -->")
    result.stdout.fnmatch_lines([f"docs/check.md::line-{passing} PASSED*"])
    failing = site.line("check.md", "  <!-- test: check dockerignore-excludes -->")
    report = report_of(result, "check.md", failing).splitlines()
    assert report[0].startswith(
        f"docs/check.md:{failing}: check dockerignore-excludes failed: "
        ".dockerignore does not exclude __pycache__/, *.pyc, node_modules, *.log"
    )
    assert report[-2:] == ["bullet:", "    The build context leaves out caches, logs and .git."]


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ("unknown_directive.md", "docs/unknown_directive.md:3: unknown directive 'frobnicate'; *"),
        (
            "missing_argument.md",
            "docs/missing_argument.md:3: timeout: it takes 1 word, not 0; "
            "write <!-- test: timeout SECONDS -->",
        ),
        ("nothing_to_run.md", "docs/nothing_to_run.md:1: docs/nothing_to_run.md has no block *"),
        ("macro_error.md", "docs/macro_error.md:3: a macro raised ValueError: the sample macro *"),
    ],
)
def test_a_broken_page_is_a_collection_error_naming_page_and_line_and_nothing_runs(
    site, page, error
):
    site.add_broken_page(page)

    result = site.run("docs/basics.md", f"docs/{page}")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [f"*ERROR collecting docs/{page}*", error, "*Interrupted: * during collection*"]
    )
    assert_nothing_ran(result)


def test_a_broken_page_elsewhere_in_the_nav_stops_a_run_of_another_page_naming_its_line(site):
    site.add_broken_page("unknown_directive.md")

    result = site.run("docs/basics.md")

    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["docs/unknown_directive.md:3: unknown directive 'frobnicate'; *"])
    assert_nothing_ran(result)


def test_a_prose_only_page_has_no_item_and_is_no_error(site):
    result = site.run("-rA", "docs/prose_only.md", "docs/skip.md")

    result.assert_outcomes(passed=1, skipped=1)
    assert "prose_only.md" not in result.stdout.str()


@pytest.mark.parametrize(
    ("pages", "named"),
    [
        (
            ("unknown_directive.md", "needs_broken.md"),
            "docs/unknown_directive.md:3: unknown directive 'frobnicate'",
        ),
        (("needs_missing.md",), "no_such_page.md"),
        (("needs_outside_nav.md",), "outside_nav.md"),
    ],
    ids=["broken", "missing", "outside-the-nav"],
)
def test_a_page_requiring_a_page_that_cannot_run_stops_the_run_naming_that_page(site, pages, named):
    site.add_broken_page("outside_nav.md", in_nav=False)
    for page in pages:
        site.add_broken_page(page)

    result = site.run(f"docs/{pages[-1]}")

    output = result.stdout.str() + result.stderr.str()
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.INTERNAL_ERROR), output
    assert named in output
    assert_nothing_ran(result)


def test_a_page_run_alone_brings_the_page_it_requires_first(site):
    result = site.run("docs/dependent.md")

    first, then = site.fence("prerequisite.md", "echo"), site.fence("dependent.md", "echo")
    result.stdout.fnmatch_lines(
        [f"docs/prerequisite.md::line-{first} PASSED*", f"docs/dependent.md::line-{then} PASSED*"],
        consecutive=True,
    )
    assert site.traced() == ["prerequisite", "dependent"]


def test_not_docker_deselects_every_item_of_the_pages_python_fences_included(site):
    (site.root / "test_quick.py").write_text("def test_quick():\n    pass\n")

    result = site.run("-m", "not docker", "docs/basics.md", "docs/python_order.md", "test_quick.py")

    on_pages = len(site.blocks("basics.md")) + len(site.blocks("python_order.md"))
    result.assert_outcomes(passed=1, deselected=on_pages)
    assert site.traced() == []


def test_without_an_engine_each_item_errors_with_one_line_saying_how_to_start_docker(
    site, tmp_path, monkeypatch
):
    # A socket that exists and that nothing listens on: connecting is refused.
    dead = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as unused:
        unused.bind(str(dead))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")

    result = site.run("docs/skip.md", "docs/basics.md", engine=True)

    blocks = len(site.blocks("skip.md")) + len(site.blocks("basics.md"))
    result.assert_outcomes(errors=blocks)
    errors = sections(result, "ERRORS")
    assert len(errors) == blocks
    for title, lines in errors.items():
        assert len(lines) == 1, f"{title}: {lines}"
        assert lines[0].startswith(f"no Docker engine answers at unix://{dead} (")
        assert lines[0].endswith(
            "start it (on Debian: sudo provision/engine.sh), or leave out the tests "
            "that need it: pytest -m 'not docker'"
        )
    assert "SKIPPED" not in result.stdout.str()


def test_python_fences_run_in_the_same_session_in_page_order_among_bash_blocks(site):
    result = site.run("docs/python_order.md")

    before, fence, after = (
        site.fence("python_order.md", text) for text in ("bash before", "import os", "bash after")
    )
    result.stdout.fnmatch_lines(
        [
            f"docs/python_order.md::line-{before} PASSED*",
            f"docs/python_order.md::*line:{fence}* PASSED*",
            f"docs/python_order.md::line-{after} PASSED*",
        ],
        consecutive=True,
    )
    assert site.traced() == ["bash before", "python", "bash after"]


def test_the_plugin_registers_the_docker_mark_it_puts_on_the_pages(site):
    # In a process of its own: this session's pyproject.toml registers the
    # mark, and pytest remembers it across in-process runs.
    result = site.run("--strict-markers", "docs/skip.md", alone=True)

    result.assert_outcomes(passed=1, skipped=1)
    assert "PytestUnknownMarkWarning" not in result.stdout.str()
