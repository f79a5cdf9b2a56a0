"""Rendering pages through MkDocs and mkdocs-macros, on small sites made for each test."""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import textwrap
from pathlib import Path

import pytest

from course.parse import parse_page
from course.render import RenderError, nav_pages, render_page, render_pages

MACROS = '''
def define_env(env):
    @env.macro
    def dockerfile(name):
        """A fenced block of three lines, as the course's include() makes."""
        return f'```dockerfile title="{name}"\\nFROM python:3.11-slim\\nRUN true\\n```'

    @env.macro
    def region(name):
        raise ValueError(f"no region {name!r} in Dockerfile.multi; regions there: build, runtime")

    @env.macro
    def error_text():
        return "# _Macro Rendering Error_\\n\\nsomething broke"
'''


@dataclasses.dataclass
class Site:
    """A throwaway MkDocs project: its config file and its docs directory."""

    config_file: Path
    docs: Path

    def page(self, name: str, text: str) -> None:
        (self.docs / name).write_text(textwrap.dedent(text), encoding="utf-8")


def make_site(root: Path, nav: list[str] | None = None, macros: str = "", extra: str = "") -> Site:
    config = ["site_name: Test site"]
    if nav is not None:
        config += ["nav:"] + [f"  - {page}" for page in nav]
    config += ["plugins:", "  - macros:", "      module_name: site_macros", macros, extra]
    (root / "mkdocs.yml").write_text("\n".join(config) + "\n", encoding="utf-8")
    (root / "site_macros.py").write_text(MACROS, encoding="utf-8")
    (root / "docs").mkdir()
    return Site(root / "mkdocs.yml", root / "docs")


@pytest.fixture
def site(tmp_path) -> Site:
    """A site with a nav of two pages, a macros module, and an `image` variable."""
    site = make_site(
        tmp_path, nav=["second.md", "first.md"], extra="extra:\n  image: simple-app\n  tag: 0.1.0"
    )
    site.page("first.md", "# First\n\nNothing here.\n")
    site.page("second.md", "# Second\n\nNor here.\n")
    return site


def test_nav_pages_follow_the_nav_not_the_alphabet(site):
    assert nav_pages(site.config_file) == ("second.md", "first.md")


def test_nav_pages_without_a_nav_list_every_page_index_first(tmp_path):
    site = make_site(tmp_path)
    for name in ("b.md", "a.md", "index.md"):
        site.page(name, "# Page\n")

    assert nav_pages(site.config_file) == ("index.md", "a.md", "b.md")


def test_render_pages_renders_every_page_in_nav_order(site):
    pages = render_pages(site.config_file)

    assert [page.path for page in pages] == ["second.md", "first.md"]
    assert [page.location for page in pages] == ["docs/second.md", "docs/first.md"]
    assert pages[0].source_file == site.docs / "second.md"


def test_render_pages_renders_only_the_pages_asked_for_in_that_order(site):
    pages = render_pages(site.config_file, ["first.md", "second.md"])

    assert [page.path for page in pages] == ["first.md", "second.md"]


def test_a_variable_from_extra_is_expanded_and_its_line_maps_to_itself(site):
    site.page("first.md", "# First\n\n```bash\ndocker run {{ image }}:{{ tag }}\n```\n")

    page = render_page(site.config_file, "first.md")

    assert "docker run simple-app:0.1.0\n" in page.text
    assert page.line_map[3] == 4
    assert page.macro_lines == {4}


def test_a_multi_line_macro_maps_every_line_it_makes_to_the_macro_line(site):
    site.page(
        "first.md",
        """\
        ---
        title: First
        ---

        # First

        {{ dockerfile("Dockerfile") }}

        Then:
        """,
    )

    page = render_page(site.config_file, "first.md")

    rendered = page.text.split("\n")
    assert rendered[2:6] == [
        '```dockerfile title="Dockerfile"',
        "FROM python:3.11-slim",
        "RUN true",
        "```",
    ]
    assert page.line_map == (5, 6, 7, 7, 7, 7, 8, 9)
    assert page.macro_lines == {7}


def test_front_matter_is_counted_in_source_lines_and_kept_as_meta(site):
    site.page("first.md", "---\ntitle: First\nlevel: 2\n---\n\n# First\n")

    page = render_page(site.config_file, "first.md")

    assert page.text.startswith("# First")
    assert page.line_map[0] == 6
    assert dict(page.meta) == {"title": "First", "level": 2}
    assert page.source.startswith("---\ntitle: First")


def test_a_rendered_page_parses_into_blocks_at_their_source_lines(site):
    site.page(
        "first.md",
        """\
        ---
        title: First
        ---
        # First

        {{ dockerfile("Dockerfile") }}

        ```bash
        docker build -t {{ image }} .
        ```
        """,
    )

    parsed = parse_page(render_page(site.config_file, "first.md"))

    assert [(b.kind, b.line, b.from_macro, b.title) for b in parsed.blocks] == [
        ("file", 6, True, "Dockerfile"),
        ("shell", 8, False, None),
    ]
    assert parsed.blocks[1].text == "docker build -t simple-app .\n"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("Run {{ no_such_name }} now.", "'no_such_name' is undefined"),
        ("Run {{ no_such_macro('x') }} now.", "'no_such_macro' is undefined"),
        ("Use {{ image.no_attribute }}.", "has no attribute 'no_attribute'"),
    ],
    ids=["variable", "macro", "attribute"],
)
def test_an_unknown_name_stops_rendering_with_the_page_and_line(site, line, problem):
    site.page("first.md", f"---\ntitle: First\n---\n# First\n\n{line}\n")

    with pytest.raises(RenderError) as caught:
        render_page(site.config_file, "first.md")

    assert str(caught.value).startswith("docs/first.md:6: ")
    assert problem in str(caught.value)
    assert "variable under `extra:` in mkdocs.yml" in str(caught.value)
    assert (caught.value.location, caught.value.line) == ("docs/first.md", 6)


def test_an_exception_inside_a_macro_stops_rendering_with_its_message(site):
    site.page("first.md", '# First\n\nSome text.\n\n{{ region("deps") }}\n')

    with pytest.raises(RenderError) as caught:
        render_page(site.config_file, "first.md")

    message = str(caught.value)
    assert message.startswith("docs/first.md:5: a macro raised ValueError: ")
    assert "no region 'deps' in Dockerfile.multi; regions there: build, runtime" in message
    assert "site_macros.py:" in message


def test_a_jinja_syntax_error_stops_rendering_and_says_how_to_keep_braces(site):
    site.page("first.md", "# First\n\n```bash\ndocker ps --format '{{.Names}}'\n```\n")

    with pytest.raises(RenderError) as caught:
        render_page(site.config_file, "first.md")

    assert str(caught.value).startswith("docs/first.md:4: the macros cannot read this: ")
    assert "{% raw %}" in str(caught.value)


def test_a_config_asking_for_lenient_macros_is_made_strict(tmp_path):
    lenient = "      on_undefined: keep\n      on_error_fail: false"
    site = make_site(tmp_path, macros=lenient)
    site.page("index.md", "# Home\n\n{{ no_such_name }}\n")

    with pytest.raises(RenderError, match=r"^docs/index.md:3: 'no_such_name' is undefined"):
        render_page(site.config_file, "index.md")


def test_a_macro_error_is_reported_once_not_also_logged(site, caplog):
    site.page("first.md", '# First\n\n{{ region("deps") }}\n')

    with caplog.at_level(logging.DEBUG), pytest.raises(RenderError):
        render_page(site.config_file, "first.md")

    assert not [r for r in caplog.records if "Macro Rendering Error" in r.getMessage()]


def test_error_text_rendered_into_a_page_is_refused(site):
    site.page("first.md", "# First\n\n{{ error_text() }}\n")

    with pytest.raises(RenderError, match=r"^docs/first.md: mkdocs-macros rendered an error"):
        render_page(site.config_file, "first.md")


def test_a_page_that_is_not_in_the_site_is_an_error_listing_its_pages(site):
    with pytest.raises(RenderError) as caught:
        render_page(site.config_file, "third.md")

    assert str(caught.value) == (
        "docs/third.md: this is not a page of the site; its pages: first.md, second.md"
    )


def test_a_site_without_the_macros_plugin_is_refused(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n")
    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text("site_name: No macros\nplugins: []\n")

    with pytest.raises(RenderError) as caught:
        render_pages(config_file)

    assert str(caught.value).startswith(f"{config_file}: the macros plugin is not configured")
    assert "add `- macros` under `plugins:`" in str(caught.value)


def test_a_config_mkdocs_cannot_load_is_an_error_saying_why(tmp_path):
    site = make_site(tmp_path, extra="theme:\n  name: no-such-theme")

    with pytest.raises(RenderError) as caught:
        nav_pages(site.config_file)

    assert str(caught.value).startswith(f"{site.config_file}: MkDocs cannot load this config: ")
    assert "no-such-theme" in str(caught.value)


def test_a_missing_config_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(RenderError, match="MkDocs cannot load this config"):
        nav_pages(tmp_path / "mkdocs.yml")


def test_a_macros_module_that_fails_to_load_is_an_error_naming_the_config(tmp_path):
    site = make_site(tmp_path)
    (tmp_path / "site_macros.py").write_text("def define_env(env):\n    raise KeyError('port')\n")

    with pytest.raises(RenderError) as caught:
        nav_pages(site.config_file)

    assert str(caught.value).startswith(f"{site.config_file}: the plugins failed at their config")
    assert "KeyError" in str(caught.value)


def test_a_rendered_page_cannot_be_changed(site):
    site.page("first.md", "---\ntitle: First\n---\n# First\n")
    page = render_page(site.config_file, "first.md")

    with pytest.raises(dataclasses.FrozenInstanceError):
        page.text = "other"
    with pytest.raises(TypeError):
        page.meta["title"] = "Other"
    assert isinstance(page.line_map, tuple)
    assert isinstance(page.macro_lines, frozenset)


def test_a_macro_error_leaves_standard_input_open(site, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"still here"))
    monkeypatch.setattr(sys, "stdin", stdin)
    site.page("first.md", '# First\n\n{{ region("deps") }}\n')

    with pytest.raises(RenderError):
        render_page(site.config_file, "first.md")

    assert sys.stdin is stdin
    assert not stdin.closed
