"""Checks of what a page is: offline, clean, titled, linked, and reachable from the menu."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page

from .browsing import SiteProblem, Visit
from .website import SitePage


def check_stays_on_localhost(seen: Visit) -> None:
    """No request of the page goes to another host: the site works offline."""
    __tracebackhide__ = True
    if seen.outside:
        listed = "\n  ".join(sorted(set(seen.outside)))
        raise SiteProblem(
            f"{seen.where} asks another host for {len(set(seen.outside))} resource(s), which a "
            f"learner offline or behind a firewall never gets:\n  {listed}\n"
            "Serve them from docs/ instead; for Material's Google Fonts keep `font: false` "
            "under `theme:` in mkdocs.yml."
        )


def check_loads_cleanly(seen: Visit) -> None:
    """The page loaded with no failed request, console error or uncaught script error."""
    __tracebackhide__ = True
    problems = (
        [f"request failed: {failure}" for failure in seen.failed]
        + [f"console error: {text}" for text in seen.console_errors]
        + [f"script error: {text}" for text in seen.page_errors]
    )
    if problems:
        listed = "\n  ".join(problems)
        raise SiteProblem(f"{seen.where} does not load cleanly:\n  {listed}")


def check_title_and_headings(tab: Page, seen: Visit) -> None:
    """The tab's title names the page, and its headings show text, with no macro left over."""
    __tracebackhide__ = True
    title = tab.title()
    home = seen.page.url in ("", "./", "index.html")
    if not title.strip() or (not home and seen.page.title not in title):
        raise SiteProblem(
            f"{seen.where} has the title {title!r}, which does not name the page "
            f"{seen.page.title!r} of the nav"
        )

    headings = tab.locator("article.md-content__inner").evaluate(
        """article => [...article.querySelectorAll("h1, h2, h3, h4, h5, h6")].map(h => ({
            level: h.tagName, text: h.innerText.replace(/¶$/, "").trim(), id: h.id,
            shown: h.checkVisibility({visibilityProperty: true}) || !!h.closest("details"),
        }))"""
    )
    first = headings[0] if headings else None
    if first is None or first["level"] != "H1" or not first["text"] or not first["shown"]:
        raise SiteProblem(f"{seen.where} does not show a first-level heading above its content")

    broken = [
        f"{h['level']} {h['text']!r}"
        for h in headings
        if not h["text"] or not h["id"] or "{{" in h["text"] or "}}" in h["text"]
    ]
    if broken:
        raise SiteProblem(
            f"{seen.where} has headings that are empty, lack an anchor, or show an unexpanded "
            f"macro: {', '.join(broken)}"
        )


# Fetches every same-origin link target once, as the browser would, and looks
# for each #fragment's id in the target's HTML (the live document for links
# within the page).
LINKS_SCRIPT = """
async () => {
  const here = location.href.split("#")[0];
  const targets = new Map();
  for (const a of document.querySelectorAll("a[href]")) {
    const raw = a.getAttribute("href");
    if (/^(mailto|tel|javascript):/i.test(raw)) continue;
    const url = new URL(a.href);
    if (url.origin !== location.origin) continue;
    const key = url.href.split("#")[0];
    if (!targets.has(key)) targets.set(key, []);
    targets.get(key).push({
      href: raw,
      text: a.textContent.trim().replace(/\\s+/g, " ").slice(0, 60),
      fragment: decodeURIComponent(url.hash.slice(1)),
    });
  }

  const problems = new Set();
  for (const [key, links] of targets) {
    let response;
    try {
      response = await fetch(key, {cache: "no-store"});
    } catch (error) {
      links.forEach(l => problems.add(`${l.href} ("${l.text}"): cannot be fetched (${error})`));
      continue;
    }
    if (!response.ok) {
      links.forEach(l => problems.add(`${l.href} ("${l.text}"): answers HTTP ${response.status}`));
      continue;
    }
    if (!links.some(l => l.fragment)) continue;
    const doc = key === here
      ? document
      : new DOMParser().parseFromString(await response.text(), "text/html");
    const anchored = id => doc.getElementById(id) || doc.getElementsByName(id).length;
    for (const l of links) {
      if (l.fragment && !anchored(l.fragment)) {
        problems.add(`${l.href} ("${l.text}"): ${key} has no anchor "${l.fragment}"`);
      }
    }
  }
  return {targets: targets.size, problems: [...problems]};
}
"""


def check_internal_links(tab: Page, seen: Visit) -> None:
    """Every link of the page to this site answers 200, and every #anchor exists on its target."""
    __tracebackhide__ = True
    result = tab.evaluate(LINKS_SCRIPT)
    if result["targets"] == 0:
        raise SiteProblem(f"{seen.where} has no link to any page of the site, not even the nav")
    if result["problems"]:
        listed = "\n  ".join(result["problems"])
        raise SiteProblem(
            f"{seen.where} has broken internal links; fix the link in {seen.page.location} "
            f"or the page or heading it points to:\n  {listed}"
        )


def check_nav_lists_every_page(tab: Page, seen: Visit, docs: list[SitePage]) -> None:
    """The navigation shown on the page links every page under docs/: none is unreachable."""
    __tracebackhide__ = True
    linked = tab.locator("nav.md-nav--primary a.md-nav__link[href]").evaluate_all(
        "links => links.map(a => a.href)"
    )
    shown = {urlsplit(href).path for href in linked}
    missing = [page for page in docs if urlsplit(seen.url_of(page)).path not in shown]
    if missing:
        listed = ", ".join(page.location for page in missing)
        raise SiteProblem(
            f"{listed} is in docs/ but not in the site's navigation, so a learner cannot find "
            f"it from the menu (the menu of {seen.url} has no link to it); add it under `nav:` "
            "in mkdocs.yml"
        )
