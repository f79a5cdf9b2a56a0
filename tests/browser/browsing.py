"""Opening a page of the built site in Chromium, and recording what the page asked for.

Every check of tests/browser raises SiteProblem, whose message starts with the
page's source file (`docs/exercise-2.md`), when a page fails it. The fault
tests run the same checks on a broken copy of the site and expect exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Response

from .website import SitePage

# Hosts that are this machine; a request to any other leaves it.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemes that never touch the network.
OFFLINE_SCHEMES = frozenset({"data", "blob", "about"})

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


class SiteProblem(AssertionError):
    """A page of the site fails a check; the message names the page and what to fix."""


@dataclass
class Visit:
    """What loading one page asked for and what went wrong while it loaded."""

    page: SitePage
    base_url: str
    outside: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return urljoin(self.base_url, self.page.url)

    def url_of(self, page: SitePage) -> str:
        """The URL of another page of the same site."""
        return urljoin(self.base_url, page.url)

    @property
    def where(self) -> str:
        return f"{self.page.location} ({self.url})"


def is_local(url: str) -> bool:
    """Whether fetching `url` stays on this machine."""
    parts = urlsplit(url)
    if parts.scheme in OFFLINE_SCHEMES:
        return True
    return parts.hostname in LOCAL_HOSTS


def new_context(browser: Browser, viewport: dict[str, int]) -> BrowserContext:
    """A fresh browser profile of `viewport` size that may use the clipboard.

    A request for another host is aborted before it leaves: the visit still
    records it, and the tests never depend on, or reach, the outside world.
    """
    context = browser.new_context(
        viewport=viewport,
        permissions=["clipboard-read", "clipboard-write"],
        color_scheme="light",
    )
    context.route(lambda url: not is_local(url), lambda route: route.abort("blockedbyclient"))
    return context


def visit(tab: Page, base_url: str, page: SitePage) -> Visit:
    """Load `page` in `tab` and record every request, failure and console error on the way."""
    seen = Visit(page, base_url)

    def on_request(request: Request) -> None:
        if not is_local(request.url):
            seen.outside.append(request.url)

    def on_failed(request: Request) -> None:
        if is_local(request.url):
            seen.failed.append(f"{request.url} ({request.failure})")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.url} (HTTP {response.status})")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    def on_page_error(error) -> None:
        seen.page_errors.append(str(error))

    listeners = {
        "request": on_request,
        "requestfailed": on_failed,
        "response": on_response,
        "console": on_console,
        "pageerror": on_page_error,
    }
    for event, listener in listeners.items():
        tab.on(event, listener)
    try:
        # networkidle: the search index and anything a script fetches after
        # the load event count as part of the page too.
        tab.goto(seen.url, wait_until="networkidle")
    finally:
        for event, listener in listeners.items():
            tab.remove_listener(event, listener)
    return seen
