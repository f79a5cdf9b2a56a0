"""Running a page's blocks: the scratch project, the bash session, and what each block must do.

One `PageRun` lives from a page's first block to its last. It owns the page's
scratch project and bash, remembers the last command's output for the output
block after it, and remembers the first failure so that later blocks can say
they were not run because of it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import docker

from course.checks import CheckUsageError, Context, run_check, validate
from course.parse import Block, Page
from macros.include import without_markers

from . import report
from .match import match_output
from .project import make_scratch_project
from .report import DocsFailure, Where
from .shell import Result, ShellSession

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_WAIT_SECONDS = 30.0
WAIT_POLL_SECONDS = 0.5


@dataclass
class PageRun:
    """The state of one page while its blocks run."""

    page: Page
    project: Path
    shell: ShellSession
    client: docker.DockerClient
    tmp: Path
    sample_app: Path | None = None
    last: tuple[Block, Result] | None = None
    failed_at: Where | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, page: Page, sample_app: Path, left_out: set[str], docker_host, client):
        tmp = Path(tempfile.mkdtemp(prefix=f"course-{Path(page.path).stem}-"))
        project = make_scratch_project(sample_app, tmp / "project", left_out)
        scripts = tmp / "blocks"
        scripts.mkdir()

        shell = ShellSession(project, shell_environment(docker_host), scripts)
        log.info("page %s starts in %s", page.path, project)
        return cls(page, project, shell, client, tmp, sample_app=sample_app)

    def finish(self) -> None:
        self.shell.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        log.info("page %s finished after %.1f s", self.page.path, time.monotonic() - self.started)

    def where(self, block: Block) -> Where:
        return Where(self.page.path, block.line)

    def execute(self, block: Block) -> None:
        """Do what the block asks; raise DocsFailure when it does not do what the page says."""
        handlers = {
            "shell": self._run_shell,
            "output": self._compare_output,
            "file": self._write_file,
            "check": self._run_check,
        }
        handlers[block.kind](block)

    def _run_shell(self, block: Block) -> None:
        where = self.where(block)
        timeout = float(_directive_arg(block, "timeout") or DEFAULT_TIMEOUT_SECONDS)
        expected = int(_directive_arg(block, "exit-status") or 0)

        if not self.shell.alive:
            raise DocsFailure(where, "the page's shell has ended, so this block cannot run")

        wait = _directive(block, "wait-for")
        if wait is not None and "url" in wait.options:
            _wait_for_url(where, wait.options["url"], _wait_seconds(wait))

        result = self.shell.run(block.text, timeout)
        if wait is not None and "text" in wait.options:
            result = self._rerun_until_text(
                block, result, wait.options["text"], _wait_seconds(wait)
            )

        self.last = (block, result)
        if result.timed_out:
            raise report.command_failed(
                where,
                block.text,
                None,
                result.output,
                f"did not finish within its deadline of {timeout:g} s and was killed, with "
                "every process it started; raise it with <!-- test: timeout SECONDS --> if "
                "the command is slow rather than stuck",
            )
        if result.shell_ended:
            raise report.command_failed(
                where,
                block.text,
                result.status,
                result.output,
                "ended the page's shell; a page must not `exit`, since the learner's "
                "terminal would close",
            )
        if result.status != expected:
            summary = f"exited with status {result.status}"
            if expected:
                summary += (
                    f", and the page expects {expected} (<!-- test: exit-status {expected} -->); "
                    "fix the command, or, if it now succeeds on purpose, remove the directive "
                    "and the page's words about the failure"
                )
            else:
                summary += report.next_step(result.status, result.output)
            raise report.command_failed(where, block.text, result.status, result.output, summary)

    def _rerun_until_text(self, block: Block, result: Result, text: str, seconds: float) -> Result:
        deadline = time.monotonic() + seconds
        while text not in result.output and time.monotonic() < deadline and not result.timed_out:
            time.sleep(1)
            result = self.shell.run(block.text, max(deadline - time.monotonic(), 1))
        if text not in result.output and not result.timed_out:
            raise report.command_failed(
                self.where(block),
                block.text,
                result.status,
                result.output,
                f"its output did not contain {text!r} within {seconds:g} s (wait-for text=...)",
            )
        return result

    def _compare_output(self, block: Block) -> None:
        where = self.where(block)
        if self.last is None:
            raise DocsFailure(where, "this output block has no command before it that ran")

        command, result = self.last
        mismatch = match_output(block.text, result.output)
        if mismatch is not None:
            raise DocsFailure(
                where,
                f"the output of the command at line {command.line} does not match the page; "
                "correct the output block, or put a wildcard (..., <id>, <size>, <time>) where "
                "the output changes from run to run",
                (("command", command.text), ("diff", mismatch.diff)),
            )

    def _write_file(self, block: Block) -> None:
        target = (self.project / block.title).resolve()
        if not target.is_relative_to(self.project.resolve()):
            raise DocsFailure(self.where(block), f"the file {block.title} lies outside the project")

        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")

        source = self.sample_app / block.title if self.sample_app else None
        if block.from_macro and source is not None and source.is_file():
            shown = without_markers(source.read_text(encoding="utf-8"))
            if block.text != shown:
                raise DocsFailure(
                    self.where(block),
                    f"the block titled {block.title} differs from sample_app/{block.title}; "
                    "a learner who saves it gets another file than the tests use",
                )

    def _run_check(self, block: Block) -> None:
        where = self.where(block)
        for directive in block.directives:
            if directive.name != "check":
                continue
            name, *args = directive.args
            try:
                validate(name, tuple(args), directive.options)
            except CheckUsageError as error:
                raise DocsFailure(where, str(error)) from None

            outcome = run_check(
                name, Context(self.project, self.client), tuple(args), directive.options
            )
            if not outcome.passed:
                bullet = next((b.text for b in self.page.verification if directive in b.checks), "")
                raise DocsFailure(
                    where, f"check {name} failed: {outcome.detail}", (("bullet", bullet),)
                )


def shell_environment(docker_host: str | None) -> dict[str, str]:
    """The page's environment: the user's, talking to the engine through the harness's proxy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    # bash keeps an inherited OLDPWD, so `cd -` would lead into the folder
    # pytest was started from: the checkout, as often as not.
    env.pop("OLDPWD", None)
    if docker_host is not None:
        env["DOCKER_HOST"] = docker_host
    # The course's own Python (with `course` installed) comes first, as it
    # does for a learner who followed the set-up on the home page.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Colours and the CLI's "What's next" hints only clutter output blocks.
    env.update(NO_COLOR="1", TERM="dumb", DOCKER_CLI_HINTS="false")
    return env


def _directive(block: Block, name: str):
    return next((d for d in block.directives if d.name == name), None)


def _directive_arg(block: Block, name: str) -> str | None:
    directive = _directive(block, name)
    return directive.args[0] if directive and directive.args else None


def _wait_seconds(directive) -> float:
    return float(directive.options.get("timeout", DEFAULT_WAIT_SECONDS))


def _wait_for_url(where: Where, url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            reason = f"it answered {error.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            reason = str(getattr(error, "reason", error))

        if time.monotonic() > deadline:
            raise DocsFailure(
                where,
                f"{url} did not answer within {seconds:g} s ({reason}); the block after "
                "<!-- test: wait-for url=... --> was not run",
            )
        time.sleep(WAIT_POLL_SECONDS)
