"""The built site as a learner uses it, page by page, in Chromium."""

from __future__ import annotations

import pytest

from .browsing import visit
from .content import (
    check_internal_links,
    check_loads_cleanly,
    check_nav_lists_every_page,
    check_stays_on_localhost,
    check_title_and_headings,
)
from .interactions import check_copy_buttons, check_palette_toggle_persists, check_search_finds
from .phone import check_drawer_opens, check_fits_width

pytestmark = pytest.mark.browser


def nav_page_named(site, src: str):
    """The page of the nav whose source is docs/`src`."""
    return next(page for page in site.nav if page.src == src)


def test_page_loads_offline_without_errors_and_shows_its_headings(
    site, desktop, nav_page, screenshots
):
    seen = visit(desktop, site.base_url, nav_page)
    desktop.screenshot(path=screenshots / f"{nav_page.name}-desktop.png", full_page=True)

    check_stays_on_localhost(seen)
    check_loads_cleanly(seen)
    check_title_and_headings(desktop, seen)


def test_every_internal_link_and_anchor_on_the_page_resolves(site, desktop, nav_page):
    seen = visit(desktop, site.base_url, nav_page)

    check_internal_links(desktop, seen)


def test_navigation_links_every_page_under_docs(site, desktop):
    seen = visit(desktop, site.base_url, site.nav[0])

    check_nav_lists_every_page(desktop, seen, site.docs)


@pytest.mark.parametrize(
    ("query", "src"), [("multi-stage", "exercise-2.md"), ("registry", "exercise-3.md")]
)
def test_search_finds_the_exercise_about_the_word(site, desktop, query, src):
    seen = visit(desktop, site.base_url, site.nav[0])

    check_search_finds(desktop, seen, query, nav_page_named(site, src))


def test_copy_button_copies_exactly_the_command_the_tests_run(
    site, desktop, parsed_pages, nav_page
):
    parsed = parsed_pages[nav_page.src]
    seen = visit(desktop, site.base_url, nav_page)

    compared = check_copy_buttons(desktop, seen, parsed)

    commands = sum(block.kind == "shell" for block in parsed.blocks)
    assert compared == commands


def test_light_dark_toggle_changes_the_scheme_and_the_next_page_keeps_it(site, desktop):
    first, second = site.nav[0], site.nav[1]
    seen = visit(desktop, site.base_url, first)

    before, after = check_palette_toggle_persists(desktop, seen, second)

    assert before != after


def test_page_fits_a_phone_screen_and_its_drawer_shows_the_nav(site, phone, nav_page, screenshots):
    seen = visit(phone, site.base_url, nav_page)
    phone.screenshot(path=screenshots / f"{nav_page.name}-phone.png", full_page=True)

    check_fits_width(phone, seen)
    check_drawer_opens(phone, seen, site.nav)
