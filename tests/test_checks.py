"""The checks, the Dockerfile reader and the learner's report, on files alone: no Docker here.

The checks that ask the engine are tested against a real one in
tests/test_learner_check.py; these cover what reads the learner's files, the
checks' arguments, and how a bullet comes to be failed or not checked.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from course import cli
from course.checks import CHECKS, CheckUsageError, Context, Outcome, run_check, validate
from course.dockerfile import DockerfileError, inherited, read_instructions, read_stages
from course.parse import parse_markdown, parse_page
from course.render import render_pages

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "sample_app"


def dockerfile(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of sample_app/ as a learner has it at the end of Exercise 2."""
    return Path(shutil.copytree(SAMPLE_APP, tmp_path / "project"))


def deps_before_code(project: Path, text: str | None = None) -> Outcome:
    if text is not None:
        (project / "Dockerfile.multi").write_text(dockerfile(text))
    return run_check("deps-before-code", Context(project, None), ("Dockerfile.multi",), {})


@pytest.fixture(scope="module")
def pages():
    """Every page of the course, rendered as the site renders it and parsed."""
    return [parse_page(rendered) for rendered in render_pages(ROOT / "mkdocs.yml")]


def test_a_continued_instruction_is_one_instruction_on_its_first_line():
    (run,) = read_instructions("RUN pip install \\\n    flask \\  \n    waitress\n")

    assert (run.keyword, run.line) == ("RUN", 1)
    assert run.words() == ("pip", "install", "flask", "waitress")


def test_comment_and_blank_lines_inside_a_continuation_are_dropped():
    text = 'COPY \\\n# the code\n\n    main.py \\\n    /app/\nCMD ["python"]\n'

    copy, cmd = read_instructions(text)

    assert copy.operands() == ("main.py", "/app/")
    assert (cmd.keyword, cmd.line, cmd.words()) == ("CMD", 6, ("python",))


def test_the_escape_directive_makes_the_backtick_continue_a_line():
    text = "# escape=`\nFROM python:3.11 AS build\nCOPY . `\n  C:\\app\n"

    (stage,) = read_stages(text)

    assert stage.instructions[0].operands() == (".", "C:\\app")


def test_a_heredoc_body_belongs_to_its_instruction():
    text = "FROM python:3.11\nRUN <<EOF\npip install -r requirements.txt\nEOF\nCOPY . .\n"

    run, copy = read_stages(text)[0].instructions

    assert run.heredocs == ("pip install -r requirements.txt",)
    assert (copy.keyword, copy.line) == ("COPY", 5)


def test_a_stage_built_from_another_inherits_its_instructions():
    stages = read_stages("FROM python AS base\nCOPY . .\nFROM base AS test\nRUN pip install x\n")

    assert [i.keyword for i in inherited(stages, stages[1])] == ["COPY", "RUN"]
    assert [i.keyword for i in inherited(stages, stages[0])] == ["COPY"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("RUN true\n", "RUN comes before the first FROM"),
        ("# only a comment\n", "there is no FROM instruction"),
        ("FROM python\nRUN <<EOF\ntrue\n", "the here-document <<EOF is never closed"),
        ("FROM python\n--from=x\n", "does not start with an instruction"),
    ],
)
def test_a_dockerfile_the_builder_would_refuse_is_an_error_naming_the_line(text, problem):
    with pytest.raises(DockerfileError) as caught:
        read_stages(text)

    assert problem in caught.value.problem


def test_the_course_dockerfile_multi_installs_before_it_copies_code(project):
    outcome = deps_before_code(project)

    assert outcome.passed, outcome.detail
    assert (
        outcome.detail == "Dockerfile.multi installs the dependencies (line 17) before copying code"
    )


def test_exercise_1s_dockerfile_copies_everything_before_the_install(project):
    text = (SAMPLE_APP / "Dockerfile").read_text()

    outcome = deps_before_code(project, text)

    assert not outcome.passed
    assert outcome.detail == (
        "in Dockerfile.multi, the stage at line 2: line 8 (COPY . .) copies the whole "
        "folder (.) before line 9 installs the dependencies, so a change to that code makes "
        "the build install them again"
    )


@pytest.mark.parametrize(
    "text",
    [
        """
        FROM python:3.11-bookworm AS build
        RUN python -m venv --without-pip /opt/venv
        WORKDIR /src
        COPY . .
        RUN pip --python /opt/venv/bin/python install -r requirements.txt
        """,
        """
        FROM python:3.11-bookworm AS build
        COPY requirements.txt main.py /tmp/
        RUN pip install --prefix=/install -r /tmp/requirements.txt
        """,
        """
        FROM python:3.11-slim-bookworm AS runtime
        WORKDIR /app
        COPY --chown=10001:10001 \\
            main.py \\
            .
        RUN python -m pip install --no-cache-dir -r requirements.txt
        """,
        """
        FROM python:3.11-bookworm AS build
        COPY ["main.py", "requirements.txt", "/app/"]
        RUN ["pip", "install", "-r", "/app/requirements.txt"]
        """,
        """
        FROM python:3.11-bookworm AS base
        COPY . /app
        FROM base AS build
        RUN pip3 install -r /app/requirements.txt
        """,
        """
        FROM python:3.11-bookworm AS build
        ADD *.py /app/
        RUN <<EOF
        pip install -r /app/requirements.txt
        EOF
        """,
    ],
    ids=[
        "copy-all-in-build",
        "code-beside-requirements",
        "code-in-runtime",
        "json-form",
        "inherited-stage",
        "glob-and-heredoc",
    ],
)
def test_code_copied_before_the_install_fails_in_any_stage(project, text):
    outcome = deps_before_code(project, text)

    assert not outcome.passed
    assert "before line" in outcome.detail
    assert "installs the dependencies" in outcome.detail


@pytest.mark.parametrize(
    "text",
    [
        """
        FROM python:3.11-bookworm AS build
        COPY requirements.txt constraints.txt /tmp/
        RUN pip install -r /tmp/requirements.txt -c /tmp/constraints.txt
        COPY . /app
        """,
        """
        FROM python:3.11-bookworm AS build
        COPY *.txt /tmp/
        RUN pip install -r /tmp/requirements.txt
        FROM python:3.11-slim-bookworm
        COPY --from=build /usr/local /usr/local
        COPY . /app
        """,
    ],
    ids=["manifests-then-code", "glob-of-manifests-and-runtime-code"],
)
def test_lists_of_dependencies_may_come_before_the_install_and_code_after_it(project, text):
    outcome = deps_before_code(project, text)

    assert outcome.passed, outcome.detail


def test_a_dockerfile_that_installs_nothing_fails(project):
    outcome = deps_before_code(project, "FROM python:3.11\nCOPY . .\nRUN apt-get install -y x\n")

    assert outcome == Outcome(
        False, "no RUN instruction in Dockerfile.multi installs the dependencies"
    )


def test_a_missing_dockerfile_fails_and_names_it_as_missing(project):
    (project / "Dockerfile.multi").unlink()

    outcome = deps_before_code(project)

    assert not outcome.passed
    assert outcome.missing == ("the file Dockerfile.multi",)


def test_a_dockerfile_that_cannot_be_read_fails_with_its_line(project):
    outcome = deps_before_code(project, "FROM python\nRUN <<EOF\ntrue\n")

    assert outcome.detail == (
        "Dockerfile.multi line 2: the here-document <<EOF is never closed by EOF"
    )


def test_the_course_dockerignore_passes_and_a_missing_one_fails(project):
    context = Context(project, None)

    assert run_check("dockerignore-excludes", context, (), {}).passed
    (project / ".dockerignore").unlink()
    assert not run_check("dockerignore-excludes", context, (), {}).passed


def test_a_dockerignore_that_lets_logs_through_names_what_it_misses(project):
    (project / ".dockerignore").write_text("__pycache__/\n*.pyc\n.git\nnode_modules\n")

    outcome = run_check("dockerignore-excludes", Context(project, None), (), {})

    assert outcome == Outcome(False, ".dockerignore does not exclude *.log")


@pytest.mark.parametrize(
    ("name", "args", "options", "problem"),
    [
        ("image-big", ("a",), {}, "unknown check 'image-big'; known checks: dockerignore"),
        ("image-exists", (), {}, "'image-exists' takes: check image-exists REF"),
        ("image-exists", ("a", "b"), {}, "'image-exists' takes: check image-exists REF"),
        ("image-smaller", ("a",), {}, "'image-smaller' takes: check image-smaller REF than=REF"),
        ("container-running", ("c",), {"img": "a"}, "'container-running' takes no option img"),
    ],
)
def test_a_check_directive_that_does_not_fit_its_check_is_refused(name, args, options, problem):
    with pytest.raises(CheckUsageError) as caught:
        validate(name, args, options)

    assert str(caught.value).startswith(problem)


def test_optional_options_and_hint_are_accepted():
    validate("container-running", ("c",), {"image": "a:1", "hint": "x"})
    validate("responds", ("http://localhost/",), {})


def test_every_check_directive_on_every_page_fits_its_check(pages):
    for page in pages:
        for bullet in page.verification:
            for directive in bullet.checks:
                name, *args = directive.args
                validate(name, tuple(args), directive.options)


def test_every_check_has_a_usage_that_starts_with_its_name():
    for name, check in CHECKS.items():
        assert check.usage.split()[:2] == ["check", name]


VERIFICATION = """\
    ```bash
    true
    ```

    ## Verification

    - The Dockerfile copies code after the install.
      <!-- test: check deps-before-code Dockerfile.multi hint=cache -->
    - The same file, read again.
      <!-- test: check deps-before-code Dockerfile.multi hint=cache -->
    - The ignore file is complete.
      <!-- test: check dockerignore-excludes -->

    ## Common issues

    ### Cache

    Copy the code after the install.
    """


def test_a_bullet_that_misses_what_an_earlier_one_failed_on_is_not_checked(project):
    page = parse_markdown(textwrap.dedent(VERIFICATION), "x.md")
    (project / "Dockerfile.multi").unlink()

    results = cli.check_bullets(page, Context(project, None))

    assert [r.status for r in results] == ["FAIL", "not checked", "pass"]
    assert results[0].hint == "Copy the code after the install."
    assert cli.summary(results) == "1 of 3 checks failed, 1 not checked."


def test_a_bullet_whose_check_fails_on_its_own_is_failed_with_its_hint(project):
    page = parse_markdown(textwrap.dedent(VERIFICATION), "x.md")
    deps_before_code(project, "FROM python\nCOPY . .\nRUN pip install -r requirements.txt\n")

    results = cli.check_bullets(page, Context(project, None))

    assert [r.status for r in results] == ["FAIL", "FAIL", "pass"]
    assert cli.summary(results) == "2 of 3 checks failed."


def test_the_summary_of_a_clean_run_says_all_passed(project):
    page = parse_markdown(textwrap.dedent(VERIFICATION), "x.md")

    results = cli.check_bullets(page, Context(project, None))

    assert cli.summary(results) == "All 3 checks passed."


def test_a_report_line_is_wrapped_under_its_label(capsys):
    result = cli.BulletResult("word " * 30, cli.FAILED, Outcome(False, "why " * 5), "hint")

    cli.print_result(result, None)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  FAIL         word word")
    assert all(len(line) <= cli.WIDTH for line in lines)
    assert all(line.startswith(cli.INDENT) for line in lines[1:])
    assert lines[-1] == f"{cli.INDENT}Hint: hint"
