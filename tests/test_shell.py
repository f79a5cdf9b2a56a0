"""The page's bash session: state carries between blocks, stdin is closed, deadlines kill."""

import os
import time

import pytest

from tests.harness.shell import ShellSession


@pytest.fixture
def shell(tmp_path):
    """A bash session in an empty project folder, closed after the test."""
    project = tmp_path / "project"
    project.mkdir()
    scripts = tmp_path / "blocks"
    scripts.mkdir()
    session = ShellSession(project, os.environ, scripts)
    yield session
    session.close()


def test_directory_variables_and_exports_carry_from_block_to_block(shell, tmp_path):
    shell.run("mkdir sub && cd sub", 5)
    shell.run("greeting=hello; export AUDIENCE=learner", 5)

    result = shell.run('pwd; echo "$greeting $AUDIENCE"; bash -c \'echo "$AUDIENCE"\'', 5)

    assert result.output.splitlines() == [
        str(tmp_path / "project" / "sub"),
        "hello learner",
        "learner",
    ]


def test_exit_status_and_output_without_final_newline_are_kept_exactly(shell):
    result = shell.run("printf 'no newline'; false", 5)

    assert (result.status, result.output) == (1, "no newline")


def test_stderr_is_part_of_the_output_in_order(shell):
    result = shell.run("echo out; echo err >&2; echo out again", 5)

    assert result.output == "out\nerr\nout again\n"


def test_a_command_reading_stdin_sees_end_of_file_instead_of_hanging(shell):
    result = shell.run("cat; read -r line || echo 'stdin is closed'", 5)

    assert (result.status, result.output) == (0, "stdin is closed\n")


def test_a_block_past_its_deadline_is_killed_with_what_it_started(shell, tmp_path):
    marker = tmp_path / "still-running"

    started = time.monotonic()
    result = shell.run(f"(sleep 3; touch {marker}) & sleep 30", 1)

    assert result.timed_out and result.status is None
    assert time.monotonic() - started < 3
    assert not shell.alive
    time.sleep(3.5)
    assert not marker.exists(), "a background process of the killed block survived"


def test_a_block_that_exits_ends_the_shell_and_says_so(shell):
    result = shell.run("echo bye; exit 4", 5)

    assert (result.shell_ended, result.status, result.output) == (True, 4, "bye\n")


def test_output_that_imitates_the_end_marker_cannot_end_a_block_early(shell):
    result = shell.run("echo; echo '__course_block_end_0000 0'; sleep 0.2; echo after", 5)

    assert result.output.endswith("after\n")
