"""Breaking a copy of the site makes the site's checks fail, with a message naming the page.

Each test copies the project's site sources into tmp_path, breaks the copy
in one way a change could, builds and serves it, and runs the same check
functions as test_site.py on it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from mkdocs.utils.yaml import yaml_load

from .browsing import SiteProblem, visit
from .content import check_internal_links, check_nav_lists_every_page, check_stays_on_localhost
from .website import SiteBuildError, build_site, doc_pages, nav_pages, serve

pytestmark = pytest.mark.browser

# What building the site reads, besides the config itself.
SITE_SOURCES = ("docs", "macros", "sample_app")


@pytest.fixture
def project(config_file: Path, tmp_path: Path) -> Path:
    """A copy of the site's sources in tmp_path, to break; returns the copy's mkdocs.yml."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy2(config_file, copy / "mkdocs.yml")
    for name in SITE_SOURCES:
        shutil.copytree(
            config_file.parent / name,
            copy / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    return copy / "mkdocs.yml"


@contextmanager
def built(config_file: Path) -> Iterator[str]:
    """Build the project of `config_file` beside it and serve it; yields the base URL."""
    site_dir = config_file.parent / "site"
    build_site(config_file, site_dir)
    with serve(site_dir) as base_url:
        yield base_url


def edit_config(config_file: Path, change) -> None:
    """Rewrite mkdocs.yml after `change(config)` altered the dict read from it."""
    with config_file.open(encoding="utf-8") as stream:
        config = yaml_load(stream)
    change(config)
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def without_page(items: list, src: str) -> list:
    """The nav `items` with every entry for the page `src` left out, sections included."""
    kept = []
    for item in items:
        if isinstance(item, str):
            if item != src:
                kept.append(item)
            continue
        entry = {}
        for title, target in item.items():
            if isinstance(target, list):
                entry[title] = without_page(target, src)
            elif target != src:
                entry[title] = target
        if entry:
            kept.append(entry)
    return kept


def test_a_page_left_out_of_the_nav_is_reported_by_name(project, desktop):
    home, left_out = nav_pages(project)[0], nav_pages(project)[-1]
    edit_config(
        project, lambda config: config.update(nav=without_page(config["nav"], left_out.src))
    )
    assert left_out.src not in [page.src for page in nav_pages(project)]

    with built(project) as base_url:
        seen = visit(desktop, base_url, home)
        with pytest.raises(SiteProblem, match=re.escape(left_out.location)) as failure:
            check_nav_lists_every_page(desktop, seen, doc_pages(project))

    assert "not in the site's navigation" in str(failure.value)


# Links MkDocs lets through in a strict build, so that only the link check
# can catch them: raw HTML is never validated, and a missing anchor is only
# an INFO message unless mkdocs.yml raises `validation: anchors:`.
LINKS_MKDOCS_LETS_THROUGH = {
    "html link to no page": ('<a href="../no-such-page/">a page that is not there</a>', "404"),
    "missing anchor": ("[a step that is not there](index.md#no-such-step)", "no-such-step"),
}


@pytest.mark.parametrize("link", LINKS_MKDOCS_LETS_THROUGH.values(), ids=LINKS_MKDOCS_LETS_THROUGH)
def test_a_broken_internal_link_is_reported_with_its_page(project, desktop, link):
    markdown, detail = link
    broken = nav_pages(project)[-1]
    page_file = project.parent / "docs" / broken.src
    page_file.write_text(page_file.read_text(encoding="utf-8") + f"\n\nSee {markdown}.\n")

    try:
        with built(project) as base_url:
            seen = visit(desktop, base_url, broken)
            with pytest.raises(SiteProblem, match=re.escape(broken.location)) as failure:
                check_internal_links(desktop, seen)
    except SiteBuildError as error:
        # A stricter mkdocs.yml may stop the build on it first; that too must name the page.
        assert broken.src in str(error)
        return

    assert detail in str(failure.value)


def test_a_link_to_a_missing_page_stops_the_strict_build_naming_the_page(project):
    broken = nav_pages(project)[-1]
    page_file = project.parent / "docs" / broken.src
    page_file.write_text(
        page_file.read_text(encoding="utf-8") + "\n\nSee [a page](no-such-page.md).\n"
    )

    with pytest.raises(SiteBuildError) as failure, built(project):
        pass

    assert broken.src in str(failure.value)
    assert "no-such-page.md" in str(failure.value)


def use_google_font(config: dict) -> None:
    config["theme"]["font"] = {"text": "Roboto", "code": "Roboto Mono"}


def import_outside_stylesheet(config: dict) -> None:
    config["extra_css"] = [*config.get("extra_css", []), "outside.css"]


OUTSIDE_FONTS = {
    "theme font": (use_google_font, None),
    "extra_css import": (
        import_outside_stylesheet,
        '@import url("https://fonts.googleapis.com/css2?family=Inter&display=swap");\n',
    ),
}


@pytest.mark.parametrize("font", OUTSIDE_FONTS.values(), ids=OUTSIDE_FONTS)
def test_an_outside_web_font_is_reported_on_every_page(project, desktop, font):
    change, stylesheet = font
    edit_config(project, change)
    if stylesheet is not None:
        (project.parent / "docs" / "outside.css").write_text(stylesheet)

    with built(project) as base_url:
        for page in nav_pages(project):
            seen = visit(desktop, base_url, page)
            with pytest.raises(SiteProblem, match=re.escape(page.location)) as failure:
                check_stays_on_localhost(seen)
            assert "fonts.googleapis.com" in str(failure.value)
