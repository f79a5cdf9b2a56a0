"""Mapping rendered lines back to source lines, with Jinja as mkdocs-macros runs it."""

from __future__ import annotations

import textwrap

import jinja2
import pytest

from course.linemap import map_lines

DOCKERFILE = '```dockerfile\nFROM python:3.11 AS build\n\nRUN true\n\nCMD ["x"]\n```'


@pytest.fixture
def env() -> jinja2.Environment:
    """A Jinja environment like the macros plugin's, with an include-like macro."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["include"] = lambda name="": DOCKERFILE.replace("dockerfile", name or "x")
    environment.globals["image"] = "simple-app"
    return environment


def mapped(env: jinja2.Environment, source: str, offset: int = 0) -> list[tuple[int, str]]:
    """Each rendered line with the source line it maps to."""
    body = textwrap.dedent(source)
    text = env.from_string(body).render()
    line_map, _ = map_lines(body, text, env, offset)
    return list(zip(line_map, text.split("\n"), strict=True))


def test_unchanged_lines_map_to_themselves(env):
    assert mapped(env, "a\n\nb\n") == [(1, "a"), (2, ""), (3, "b")]


def test_an_include_with_blank_lines_maps_wholly_to_its_line_before_a_line_with_a_variable(env):
    rows = mapped(env, "{{ include() }}\n\nThe `{{ image }}` image, whose\nrest\n")

    assert [line for line, _ in rows] == [1] * 7 + [2, 3, 4]
    assert rows[7:] == [(2, ""), (3, "The `simple-app` image, whose"), (4, "rest")]


def test_two_includes_apart_by_a_blank_line_each_start_at_their_own_line(env):
    rows = mapped(env, '{{ include("a") }}\n\n{{ include("b") }}\n')

    openings = [line for line, text in rows if text.startswith("```") and len(text) > 3]
    assert openings == [1, 3]


def test_an_expression_over_several_lines_maps_to_its_first_line(env):
    body = 'Before.\n\n{{ include(\n    "c",\n) }}\n\nAfter.\n'
    text = env.from_string(body).render()

    line_map, macro_lines = map_lines(body, text, env)

    assert line_map == (1, 2) + (3,) * 7 + (6, 7)
    assert macro_lines == {3, 4, 5}


def test_raw_text_is_plain_and_keeps_its_lines(env):
    body = "```bash\n{% raw %}\ndocker ps --format '{{.Names}}'\n{% endraw %}\n```\nnext\n"
    text = env.from_string(body).render()

    line_map, macro_lines = map_lines(body, text, env)

    assert text.split("\n")[2] == "docker ps --format '{{.Names}}'"
    assert line_map == (1, 2, 3, 4, 5, 6)
    assert macro_lines == {2, 4}


def test_inline_raw_text_maps_to_its_line(env):
    rows = mapped(env, "run:\ndocker ps --format '{% raw %}{{.Names}}{% endraw %}'\nend\n")

    assert rows == [(1, "run:"), (2, "docker ps --format '{{.Names}}'"), (3, "end")]


def test_lines_a_condition_leaves_out_do_not_disturb_the_lines_after(env):
    rows = mapped(env, "a\n{% if false %}\nhidden\n{% endif %}\nb\nc\n")

    assert rows[-2:] == [(5, "b"), (6, "c")]
    assert (3, "hidden") not in rows


def test_lines_a_loop_repeats_map_near_the_loop(env):
    rows = mapped(env, "a\n{% for n in [1, 2, 3] %}\n- item {{ n }}\n{% endfor %}\nb\n")

    assert rows[0] == (1, "a")
    assert rows[-1] == (5, "b")
    assert all(2 <= line <= 4 for line, text in rows if text.startswith("- item"))


def test_the_offset_counts_the_front_matter(env):
    assert mapped(env, "a\n{{ image }}\n", offset=3) == [(4, "a"), (5, "simple-app")]


def test_macro_lines_are_the_lines_holding_jinja(env):
    body = "plain\n{{ image }} here\n{# a note #}\nplain too\n"

    _, macro_lines = map_lines(body, env.from_string(body).render(), env)

    assert macro_lines == {2, 3}
