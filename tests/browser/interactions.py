"""Checks of what a learner does on a page: search, copy a command, switch to dark."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page

from course.parse import Page as ParsedPage

from .browsing import SiteProblem, Visit
from .website import SitePage


def check_search_finds(tab: Page, seen: Visit, query: str, wanted: SitePage) -> None:
    """Typing `query` into the search box lists the page `wanted` among the results."""
    __tracebackhide__ = True
    box = tab.locator("input.md-search__input")
    box.click()
    box.press_sequentially(query, delay=20)

    wanted_path = urlsplit(seen.url_of(wanted)).path
    results = tab.locator(".md-search-result__item > a.md-search-result__link")
    deadline = time.monotonic() + 5
    found: list[str] = []
    while time.monotonic() < deadline:
        found = results.evaluate_all("links => links.map(a => a.href)")
        if wanted_path in {urlsplit(href).path for href in found}:
            return
        tab.wait_for_timeout(100)

    meta = tab.locator(".md-search-result__meta").inner_text()
    listed = ", ".join(urlsplit(href).path for href in found) or "nothing"
    raise SiteProblem(
        f"searching {seen.where} for {query!r} does not list {wanted.location} "
        f"({wanted.title!r}); the results show {meta!r}: {listed}"
    )


# Makes a code block clickable as a learner would: opens the collapsed
# blocks around it and selects the content tab that holds it.
REVEAL_SCRIPT = """
block => {
  for (let node = block; node; node = node.parentElement) {
    if (node.tagName === "DETAILS") node.open = true;
    if (node.classList.contains("tabbed-block")) {
      const set = node.closest(".tabbed-set");
      const index = [...node.parentElement.children].indexOf(node);
      const input = [...set.children].filter(c => c.tagName === "INPUT")[index];
      const label = input && set.querySelector(`label[for="${input.id}"]`);
      if (label && !input.checked) label.click();
    }
  }
}
"""


def check_copy_buttons(tab: Page, seen: Visit, parsed: ParsedPage) -> int:
    """Each command block's copy button copies exactly the text the tests run for it.

    The page's code blocks are matched with the parsed fenced blocks in page
    order; a block with a title must show that title, so that a mismatch in
    the pairing is reported as such. Returns how many buttons were compared.
    """
    __tracebackhide__ = True
    fenced = [block for block in parsed.blocks if block.kind != "check"]
    shown = tab.locator("article.md-content__inner div.highlight")
    if shown.count() != len(fenced):
        raise SiteProblem(
            f"{seen.where} shows {shown.count()} code blocks, but the tests read "
            f"{len(fenced)} fenced blocks from {seen.page.location}; a fence the site renders "
            "differently from CONTRIBUTING.md's rules would make them disagree"
        )

    compared = 0
    for index, block in enumerate(fenced):
        element = shown.nth(index)
        where = f"{seen.page.location}:{block.line}"
        label = element.locator(".filename")
        title = label.inner_text().strip() if label.count() else None
        if title != block.title:
            raise SiteProblem(
                f"{where}: the tests read a block titled {block.title!r} here, but the page's "
                f"code block {index + 1} is titled {title!r}"
            )
        if block.kind != "shell":
            continue

        copied = copy_with_button(tab, element, where)
        expected = block.text.removesuffix("\n")
        if copied.removesuffix("\n") != expected:
            raise SiteProblem(
                f"{where}: the copy button copies {copied!r}, but the tests run {expected!r}; "
                "a learner would paste something that was never tested"
            )
        compared += 1
    return compared


def copy_with_button(tab: Page, block: Locator, where: str) -> str:
    """Click the copy button of `block` and return what lands on the clipboard."""
    __tracebackhide__ = True
    block.evaluate(REVEAL_SCRIPT)
    button = block.locator("button[data-clipboard-target]")
    if button.count() != 1:
        raise SiteProblem(
            f"{where}: this command block has no copy button; keep `content.code.copy` "
            "under `theme: features:` in mkdocs.yml"
        )

    # A marker on the clipboard first, so that a button that copies nothing
    # is not mistaken for one that copied the previous block again.
    marker = "\u2400 nothing copied \u2400"
    tab.evaluate("text => navigator.clipboard.writeText(text)", marker)
    button.click()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        copied = tab.evaluate("() => navigator.clipboard.readText()")
        if copied != marker:
            return copied
        tab.wait_for_timeout(50)
    raise SiteProblem(f"{where}: clicking the copy button put nothing on the clipboard")


def color_scheme(tab: Page) -> str | None:
    return tab.locator("body").get_attribute("data-md-color-scheme")


def check_palette_toggle_persists(tab: Page, seen: Visit, other: SitePage) -> tuple[str, str]:
    """The light/dark toggle changes the scheme, and the next page keeps the choice.

    Returns the scheme before and after the toggle.
    """
    __tracebackhide__ = True
    before = color_scheme(tab)
    toggle = tab.locator("form[data-md-component=palette] label:not([hidden])")
    if toggle.count() == 0:
        raise SiteProblem(
            f"{seen.where} has no light/dark toggle; give `theme: palette:` in mkdocs.yml "
            "two schemes, each with a `toggle:`"
        )

    toggle.first.click()
    try:
        tab.wait_for_function(
            "before => document.body.getAttribute('data-md-color-scheme') !== before",
            arg=before,
            timeout=3000,
        )
    except Exception:
        raise SiteProblem(
            f"{seen.where}: clicking the light/dark toggle left the colour scheme {before!r}"
        ) from None
    after = color_scheme(tab)

    tab.goto(seen.url_of(other), wait_until="load")
    kept = color_scheme(tab)
    if kept != after:
        raise SiteProblem(
            f"{seen.where}: the colour scheme {after!r} chosen with the toggle was not kept on "
            f"{other.location}, which shows {kept!r}"
        )
    return before, after
