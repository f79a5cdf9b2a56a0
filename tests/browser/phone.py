"""Checks of a page on a phone-sized screen: nothing wider than the screen, and the drawer."""

from __future__ import annotations

import time

from playwright.sync_api import Page

from .browsing import SiteProblem, Visit
from .website import SitePage

# Measures the document against the viewport, lists what sticks out past its
# right edge, and scrolls every code block too wide for its box to prove that
# it scrolls rather than spills.
WIDTH_SCRIPT = """
() => {
  const view = window.innerWidth;
  const outside = [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > view + 1 && e.checkVisibility())
    .filter(e => !e.closest(".md-sidebar, .md-search, .md-header, pre"))
    .slice(0, 5)
    .map(e => [e.tagName.toLowerCase(), ...String(e.className).split(" ").slice(0, 1)])
    .map(parts => parts.filter(Boolean).join("."));
  const stuck = [];
  for (const code of document.querySelectorAll("article pre > code")) {
    if (code.scrollWidth <= code.clientWidth) continue;
    code.scrollLeft = 40;
    if (code.scrollLeft === 0) stuck.push(code.textContent.split("\\n")[0].slice(0, 60));
    code.scrollLeft = 0;
  }
  return {page: document.documentElement.scrollWidth, view, outside, stuck};
}
"""


def check_fits_width(tab: Page, seen: Visit) -> None:
    """The page is no wider than the viewport; a code block too wide scrolls inside itself."""
    __tracebackhide__ = True
    width = tab.evaluate(WIDTH_SCRIPT)
    if width["page"] > width["view"]:
        raise SiteProblem(
            f"{seen.where} is {width['page']}px wide in a {width['view']}px viewport, so a "
            f"phone scrolls the whole page sideways; sticking out: {', '.join(width['outside'])}"
        )
    if width["stuck"]:
        raise SiteProblem(
            f"{seen.where} has code blocks wider than the screen that do not scroll: "
            + "; ".join(width["stuck"])
        )


def check_drawer_opens(tab: Page, seen: Visit, nav: list[SitePage]) -> None:
    """At phone width the menu button opens the drawer, and it shows a link to every nav page."""
    __tracebackhide__ = True
    button = tab.locator('label.md-header__button[for="__drawer"]')
    if not button.is_visible():
        raise SiteProblem(f"{seen.where} shows no menu button at {tab.viewport_size} size")

    button.click()
    hidden: list[SitePage] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        # The drawer slides in; wait until every page's entry has arrived in
        # view. The current page's entry is a label that opens its contents.
        shown = set(tab.locator("nav.md-nav--primary .md-nav__link").evaluate_all(DRAWER_SCRIPT))
        hidden = [page for page in nav if " ".join(page.title.split()) not in shown]
        if not hidden:
            return
        tab.wait_for_timeout(100)

    listed = ", ".join(f"{page.title!r}" for page in hidden)
    raise SiteProblem(
        f"{seen.where}: after the menu button is pressed at phone width, the drawer does not "
        f"show the entries {listed}"
    )


# The texts of the drawer's entries that are fully inside the viewport.
DRAWER_SCRIPT = """
entries => entries
  .filter(e => {
    const box = e.getBoundingClientRect();
    return e.checkVisibility() && box.width > 0 && box.left >= 0 && box.right <= innerWidth;
  })
  .map(e => e.innerText.replace(/\\s+/g, " ").trim())
"""
