"""The output matcher: wildcards, what it ignores, and the diff it reports."""

from __future__ import annotations

import time

import pytest

from tests.harness.match import Mismatch, match_output

IMAGE_ID = "3f4c5a9b2e1d"
LONG_ID = "a" * 40 + "0123456789abcdef01234567"


def test_identical_output_matches():
    assert match_output("hello\nworld\n", "hello\nworld\n") is None


def test_trailing_spaces_and_trailing_blank_lines_are_ignored_on_both_sides():
    assert match_output("hello  \nworld\n\n\n", "hello\nworld   \n\n") is None


def test_leading_blank_lines_still_count():
    assert match_output("hello\n", "\nhello\n") is not None


def test_colour_codes_and_carriage_returns_in_the_output_are_ignored():
    printed = "\x1b[1m\x1b[32mok\x1b[0m\r\nStep 1/2\r\n\x1b]0;title\x07done\n"
    assert match_output("ok\nStep 1/2\ndone\n", printed) is None


def test_an_empty_block_matches_only_no_output():
    assert match_output("", "\n\n") is None
    assert match_output("", "something\n") is not None


@pytest.mark.parametrize(
    "printed",
    ["first\nlast\n", "first\none\nlast\n", "first\none\ntwo\nthree\nlast\n"],
    ids=["no lines", "one line", "several lines"],
)
def test_dots_on_a_line_of_their_own_match_any_number_of_lines(printed):
    assert match_output("first\n...\nlast\n", printed) is None


def test_dots_at_the_start_and_end_match_leading_and_trailing_lines():
    assert match_output("...\nmiddle\n...\n", "a\nb\nmiddle\nc\n") is None
    assert match_output("...\n", "") is None


def test_dots_on_a_line_still_require_the_lines_around_them():
    assert match_output("first\n...\nlast\n", "first\none\n") is not None


def test_dots_match_lines_that_also_fit_the_pattern_after_them():
    expected = "start\n...\nStep\ndone\n"
    assert match_output(expected, "start\nStep\nStep\nStep\ndone\n") is None


def test_dots_inside_a_line_match_any_text_within_that_line():
    assert match_output("Tagged ...:0.1.0\n", "Tagged simple-app:0.1.0\n") is None
    assert match_output("a...b\n", "ab\n") is None
    assert match_output("a...b\n", "a\nb\n") is not None


@pytest.mark.parametrize(
    "value",
    [IMAGE_ID, LONG_ID, f"sha256:{LONG_ID}"],
    ids=["short", "long", "sha256"],
)
def test_id_matches_an_image_or_container_id(value):
    assert match_output("Successfully built <id>\n", f"Successfully built {value}\n") is None


@pytest.mark.parametrize("value", ["3f4c5a9b2e1", "3F4C5A9B2E1D", "not-an-id-at"])
def test_id_does_not_match_other_text(value):
    assert match_output("built <id>\n", f"built {value}\n") is not None


@pytest.mark.parametrize("value", ["131MB", "4.5kB", "1.02GB", "0B", "1.5MiB"])
def test_size_matches_a_size_as_docker_prints_it(value):
    assert match_output("simple-app   0.1.0   <size>\n", f"simple-app   0.1.0   {value}\n") is None


@pytest.mark.parametrize("value", ["131 MB", "big", "MB"])
def test_size_does_not_match_other_text(value):
    assert match_output("size <size>\n", f"size {value}\n") is not None


@pytest.mark.parametrize(
    "value",
    [
        "2 minutes ago",
        "About an hour ago",
        "Up 3 seconds",
        "Up About a minute",
        "Up Less than a second",
        "1 second ago",
        "2024-05-01T10:20:30.123456789Z",
    ],
)
def test_time_matches_a_time_as_docker_prints_it(value):
    assert match_output("status: <time>\n", f"status: {value}\n") is None


@pytest.mark.parametrize("value", ["yesterday", "a while ago", "Up"])
def test_time_does_not_match_other_text(value):
    assert match_output("status: <time>\n", f"status: {value}\n") is not None


def test_a_docker_ps_line_matches_with_several_wildcards():
    expected = "<id>   simple-app:0.1.0   <time>   Up <time>   0.0.0.0:8080->8080/tcp   web\n"
    printed = (
        f"{IMAGE_ID}   simple-app:0.1.0   5 seconds ago   Up 4 seconds   0.0.0.0:8080->8080/tcp"
    )
    printed += "   web\n"
    assert match_output(expected, printed) is None


def test_other_angle_brackets_and_regex_characters_are_literal():
    assert match_output("<none>   (x) a.b [1]+\n", "<none>   (x) a.b [1]+\n") is None
    assert match_output("<none>\n", "dangling\n") is not None
    assert match_output("a.b\n", "axb\n") is not None


def test_a_mismatch_carries_a_unified_diff_labelled_page_and_actual():
    mismatch = match_output("hello\nworld\n", "hello\nthere\n")

    assert isinstance(mismatch, Mismatch)
    assert mismatch.diff.splitlines()[:2] == ["--- expected (page)", "+++ actual"]
    assert "-world" in mismatch.diff
    assert "+there" in mismatch.diff
    assert str(mismatch) == mismatch.diff


def test_the_diff_marks_only_lines_that_really_differ():
    expected = "Step 1/2 : FROM python\n...\nSuccessfully built <id>\nTagged app:0.1.0\n"
    printed = (
        "Step 1/2 : FROM python\n ---> abc\n ---> def\n"
        f"Successfully built {IMAGE_ID}\nSuccessfully tagged app:0.2.0\n"
    )

    mismatch = match_output(expected, printed)

    changed = [line for line in mismatch.diff.splitlines()[2:] if line[:1] in "-+"]
    assert changed == ["-Tagged app:0.1.0", "+Successfully tagged app:0.2.0"]
    assert f" Successfully built {IMAGE_ID}" in mismatch.diff


def test_a_mismatch_says_which_expected_and_printed_lines_went_wrong_first():
    mismatch = match_output("one\ntwo\nthree\n", "one\n2\nthree\n")

    assert (mismatch.expected_line, mismatch.actual_line) == (2, 2)


def test_a_missing_line_is_reported_against_the_page_only():
    mismatch = match_output("one\ntwo\nthree\n", "one\nthree\n")

    assert (mismatch.expected_line, mismatch.actual_line) == (2, None)
    assert "-two" in mismatch.diff


def test_an_extra_printed_line_is_reported_against_the_output_only():
    mismatch = match_output("one\nthree\n", "one\ntwo\nthree\n")

    assert (mismatch.expected_line, mismatch.actual_line) == (None, 2)
    assert "+two" in mismatch.diff


def test_many_dots_lines_against_long_output_stay_quick():
    expected = "\n".join(["...", "needle"] * 40 + ["end"])
    printed = "\n".join(["hay"] * 3000 + ["needle"] * 39 + ["end"])

    started = time.monotonic()
    mismatch = match_output(expected, printed)

    assert mismatch is not None
    assert time.monotonic() - started < 5


def test_a_long_output_that_matches_is_decided_quickly():
    expected = "\n".join(["...", "needle"] * 40 + ["end"])
    printed = "\n".join(["hay", "needle"] * 5000 + ["end"])

    started = time.monotonic()
    assert match_output(expected, printed) is None
    assert time.monotonic() - started < 5
