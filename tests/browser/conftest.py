"""Fixtures: the site built once and served on localhost, and Debian's Chromium driving it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from course.parse import Page as ParsedPage
from course.parse import parse_page
from course.render import render_pages

from .browsing import DESKTOP, PHONE, new_context
from .website import SitePage, build_site, doc_pages, nav_pages, serve

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

# Playwright's own browser download does not work on these machines, so the
# tests drive the system's Chromium.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium calls Google's update, sync and field-trial
    # hosts on start, which would count as the site leaving localhost.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Site:
    """The built site: where it is served, the config it came from, and its pages."""

    base_url: str
    config_file: Path
    nav: list[SitePage]
    docs: list[SitePage]


def config_file_of(config: pytest.Config) -> Path:
    """The mkdocs.yml under test: the harness's --docs-config when given, else the project's."""
    given = config.getoption("docs_config", default=None)
    return Path(given).resolve() if given else ROOT / "mkdocs.yml"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrised over the nav as mkdocs.yml gives it, so that a new page is
    # covered without a new test.
    if "nav_page" in metafunc.fixturenames:
        pages = nav_pages(config_file_of(metafunc.config))
        metafunc.parametrize("nav_page", pages, ids=[page.src for page in pages])


@pytest.fixture(scope="session")
def config_file(request: pytest.FixtureRequest) -> Path:
    """The site's mkdocs.yml."""
    return config_file_of(request.config)


@pytest.fixture(scope="session")
def site(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real site, built once with `mkdocs build --strict` and served on 127.0.0.1."""
    site_dir = tmp_path_factory.mktemp("site")
    build_site(config_file, site_dir)
    with serve(site_dir) as base_url:
        yield Site(base_url, config_file, nav_pages(config_file), doc_pages(config_file))


@pytest.fixture(scope="session")
def parsed_pages(site: Site) -> dict[str, ParsedPage]:
    """Every nav page rendered and parsed as the harness reads it, by its path under docs/."""
    rendered = render_pages(site.config_file, [page.src for page in site.nav])
    return {page.path: parse_page(page) for page in rendered}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole session; each test gets a fresh profile of its own."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: install it with "
            "scripts/debian-packages (Debian's chromium package), or leave them out with "
            "-m 'not browser'",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    """A tab in a fresh profile, 1280 pixels wide."""
    context = new_context(browser, DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A tab in a fresh profile the size of a phone, 375 by 740 pixels."""
    context = new_context(browser, PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """artifacts/screenshots/ under the repository root, where the page screenshots go."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
