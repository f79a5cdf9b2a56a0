"""pytest glue: pages become collectors, blocks become items, pages run in order.

Everything that knows how to render, parse or run lives in the modules beside
this one; here are only the hooks that put them in pytest's order of things.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import threading
from pathlib import Path

import pytest

from course.parse import Page, PageError, parse_page
from course.render import RenderError, nav_pages, render_pages

from .engine import EngineUnavailable, connect, upstream_socket
from .pagerun import PageRun
from .project import changed_paths, checkout_changed, checkout_state, files_created_from
from .report import DocsFailure, Where

log = logging.getLogger(__name__)

RUNNABLE = ("shell", "output", "file", "check")
DOCS_RUN = pytest.StashKey["DocsRun"]()


def pytest_addoption(parser):
    group = parser.getgroup("docs", "running the course's pages")
    group.addoption(
        "--docs-config",
        default=None,
        help="the site's mkdocs.yml (default: mkdocs.yml in the rootdir); "
        "the learner's project is the sample_app/ folder beside it",
    )
    group.addoption(
        "--docs-without-engine",
        action="store_true",
        help="run pages without a Docker engine or the harness's proxy: for the harness's "
        "own tests, whose sample pages call no docker command",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "docker: needs a running Docker engine (deselect with -m 'not docker')"
    )

    # Python fences on the pages run under pytest-markdown-docs; without its
    # flag they would silently not run at all.
    if hasattr(config.option, "markdowndocs"):
        config.option.markdowndocs = True

    config_file = Path(config.getoption("docs_config") or config.rootpath / "mkdocs.yml")
    config.stash[DOCS_RUN] = DocsRun(
        config_file.resolve(), config.rootpath, config.getoption("docs_without_engine")
    )

    # CI stops a job with SIGTERM; turning it into Ctrl-C lets the clean-up run.
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collect_file(file_path: Path, parent):
    docs = parent.config.stash[DOCS_RUN]
    page = docs.page_name(file_path)
    if page is not None:
        return DocsPageFile.from_parent(parent, path=file_path, page_name=page)
    return None


class DocsPageFile(pytest.File):
    """A page of the course: rendered, parsed, one item per runnable block."""

    def __init__(self, *, page_name: str, **kwargs):
        super().__init__(**kwargs)
        self.page_name = page_name

    def collect(self):
        docs = self.config.stash[DOCS_RUN]
        # Which files this page starts without depends on the pages after it,
        # so a page there that cannot be read is this page's collection error.
        for later in docs.nav[docs.nav.index(self.page_name) :]:
            docs.page(later)
        # The pages it requires run first, so they too must be readable now.
        docs.prerequisites({self.page_name})
        page = docs.page(self.page_name)
        for block in page.blocks:
            if block.kind in RUNNABLE:
                yield DocsBlockItem.from_parent(
                    self, name=f"line-{block.line}", block=block, page=page
                )

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, (RenderError, PageError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class DocsBlockItem(pytest.Item):
    """One block of a page, run in the page's shell in page order."""

    def __init__(self, *, block, page: Page, **kwargs):
        super().__init__(**kwargs)
        self.block = block
        self.page = page
        self.add_marker(pytest.mark.docker)

    def runtest(self):
        docs = self.config.stash[DOCS_RUN]
        docs.current.execute(self.block)
        docs.guard_checkout(docs.current.where(self.block))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, DocsFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        first_line = self.block.text.strip().splitlines()[0] if self.block.text.strip() else ""
        label = self.block.title or first_line or self.block.kind
        return self.path, self.block.line - 1, f"docs/{self.page.path}:{self.block.line} {label}"


def _page_of(item) -> str | None:
    """The page an item belongs to: ours, or a Python fence of pytest-markdown-docs."""
    if isinstance(item, DocsBlockItem):
        return item.page.path
    return item.config.stash[DOCS_RUN].page_name(Path(item.path))


def _line_of(item) -> int:
    if isinstance(item, DocsBlockItem):
        return item.block.line
    return getattr(item, "start_line", 0)


def pytest_itemcollected(item):
    # Python fences of the pages run against what the page's commands
    # started, so they need the engine as much as the commands do.
    if _page_of(item) is not None:
        item.add_marker(pytest.mark.docker)


# First, so that -m and -k choose among the pages' items once they are all
# there and in order.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    docs = config.stash[DOCS_RUN]

    # A page run alone brings the pages it builds on.
    present = {_page_of(item) for item in items} - {None}
    for name in docs.prerequisites(present) - present:
        path = docs.docs_dir / name
        collector = DocsPageFile.from_parent(session, path=path, page_name=name)
        items.extend(collector.collect())

    order = {name: index for index, name in enumerate(docs.nav)}
    others = [item for item in items if _page_of(item) is None]
    on_pages = [item for item in items if _page_of(item) is not None]
    on_pages.sort(key=lambda item: (order[_page_of(item)], _line_of(item)))
    items[:] = others + on_pages


def pytest_runtest_setup(item):
    page = _page_of(item)
    if page is None:
        return
    docs = item.config.stash[DOCS_RUN]
    blocker = docs.failed_prerequisite(page)
    if blocker is not None:
        _skip(f"not run: {blocker} failed before it")

    try:
        run = docs.enter(page)
    except EngineUnavailable as error:
        run, unavailable = None, str(error)
    if run is None:
        # Outside the except block, so the report is this one line and not
        # a chain of exceptions.
        pytest.fail(unavailable, pytrace=False)

    if run.failed_at is not None:
        _skip(f"not run: {run.failed_at} failed before it")
    if isinstance(item, DocsBlockItem):
        skip = item.block.directive("skip")
        if skip is not None:
            _skip(skip.options["reason"])


def _skip(reason: str):
    # Reported at the block's place on the page (the item's location), not
    # at this line of the harness, as skip marks are.
    raise pytest.skip.Exception(reason, _use_item_location=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    page = _page_of(item)
    if page is not None and report.failed:
        run = item.config.stash[DOCS_RUN].current
        if run is not None and run.page.path == page and run.failed_at is None:
            run.failed_at = Where(page, _line_of(item))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if isinstance(item, DocsBlockItem) or _page_of(item) is None:
        return (yield)

    # A Python fence runs where the page's commands run, in the scratch
    # project, as it would in the learner's terminal.
    run = item.config.stash[DOCS_RUN].current
    printed = io.StringIO()
    _fence_output.append(printed)
    try:
        with contextlib.chdir(run.project):
            return (yield)
    finally:
        _fence_output.pop()
        item.add_report_section("call", "output", printed.getvalue())


# What the fence now running prints. pytest-markdown-docs turns pytest's
# capture off while a fence runs, so its print() would land in the middle of
# the progress line; the fence gets a print() that writes here instead, and
# the text is kept for the report, as pytest keeps any test's output.
_fence_output: list[io.StringIO] = []


@pytest.hookimpl(optionalhook=True)
def pytest_markdown_docs_globals():
    def fence_print(*args, **kwargs):
        if _fence_output and "file" not in kwargs:
            kwargs["file"] = _fence_output[-1]
        print(*args, **kwargs)

    return {"print": fence_print}


# Last, after pytest's own teardown: failing before it would leave the
# page's collector set up, and the next page's first item would error.
@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    page = _page_of(item)
    if page is None:
        return
    if nextitem is None or _page_of(nextitem) != page:
        problems = item.config.stash[DOCS_RUN].leave()
        if problems:
            pytest.fail(f"docs/{page}: " + "; ".join(problems), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    problems = session.config.stash[DOCS_RUN].close()
    if problems:
        terminal = session.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            for problem in problems:
                terminal.write_line(f"docs harness: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class DocsRun:
    """The whole run of the pages: the site, the engine's proxy and the current page."""

    def __init__(self, config_file: Path, root: Path, without_engine: bool = False):
        self.config_file = config_file
        self.root = root
        self.without_engine = without_engine
        self.sample_app = config_file.parent / "sample_app"
        self.docs_dir = config_file.parent / "docs"
        self._nav: list[str] | None = None
        self._pages: dict[str, Page] = {}
        self._renders: dict | None = None
        self.current: PageRun | None = None
        self._proxy = None
        self._client = None
        self._checkout_before: dict[str, str] | None = None
        self._mark = 0
        self._engine_error: EngineUnavailable | None = None
        self._failures: dict[str, Where] = {}

    @property
    def nav(self) -> list[str]:
        if self._nav is None:
            self._nav = nav_pages(self.config_file) if self.config_file.is_file() else []
        return self._nav

    def page_name(self, path: Path) -> str | None:
        """The docs-relative name of a page of the site, or None for any other file."""
        if path.suffix != ".md" or not self.config_file.is_file():
            return None
        try:
            name = path.resolve().relative_to(self.docs_dir.resolve()).as_posix()
        except ValueError:
            return None
        return name if name in self.nav else None

    def page(self, name: str) -> Page:
        if name not in self._pages:
            self._pages[name] = parse_page(self._rendered(name))
        return self._pages[name]

    def _rendered(self, name: str):
        # Loading the site's config and plugins is most of what rendering
        # costs, so the whole nav is rendered at once, the first time a page
        # is wanted.
        if self._renders is None:
            try:
                self._renders = {page.path: page for page in render_pages(self.config_file)}
            except RenderError:
                # One page's macro error must not hide the others: each page
                # is then rendered alone, so its collector reports its own.
                self._renders = {}
        if name not in self._renders:
            (self._renders[name],) = render_pages(self.config_file, [name])
        return self._renders[name]

    def prerequisites(self, names: set[str]) -> set[str]:
        """The pages named, and every page they require, however indirectly."""
        wanted, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name in wanted:
                continue
            wanted.add(name)
            page = self.page(name)
            for required in page.requires:
                if required not in self.nav:
                    raise RenderError(
                        page.location,
                        None,
                        f"it requires {required}, which is not a page in the nav of "
                        f"{self.config_file.name}; pages there: {', '.join(self.nav)}",
                    )
            todo.extend(page.requires)
        return wanted

    def failed_prerequisite(self, name: str) -> Where | None:
        """The first failure, in nav order, of a page that page `name` builds on."""
        required = self.prerequisites({name}) - {name}
        for page in self.nav:
            if page in required and page in self._failures:
                return self._failures[page]
        return None

    def enter(self, name: str) -> PageRun:
        """The run of page `name`, started if it is not the current one."""
        if self.current is not None and self.current.page.path == name:
            return self.current
        self.leave()

        docker_host = None
        if not self.without_engine:
            self._client = self._connect()
            if self._proxy is None:
                self._proxy = self._start_proxy()
            self._mark = self._proxy.ledger.mark()
            docker_host = self._proxy.docker_host
        self._checkout_before = checkout_state(self.root)

        created = [(page, self._created_by(page)) for page in self.nav]
        left_out = files_created_from(created, name)
        self.current = PageRun.start(
            self.page(name), self.sample_app, left_out, docker_host, self._client
        )
        return self.current

    def leave(self) -> list[str]:
        """End the current page; return what went wrong in doing so."""
        if self.current is None:
            return []
        run, self.current = self.current, None
        run.finish()
        if run.failed_at is not None:
            self._failures[run.page.path] = run.failed_at

        problems = []
        if self._proxy is not None:
            report = self._proxy.ledger.cleanup(self._client, since=self._mark, keep_images=True)
            problems += report.problems
        changed = self._checkout_changes()
        if changed:
            problems.append(checkout_changed(self.root, changed, "the page"))
        return problems

    def guard_checkout(self, where: Where) -> None:
        """Fail the block at `where` if the checkout changed while it ran."""
        changed = self._checkout_changes()
        if changed:
            raise DocsFailure(where, checkout_changed(self.root, changed, "this block"))

    def _checkout_changes(self) -> list[str]:
        # Each change is reported once, by the block (or page) it happened in.
        now = checkout_state(self.root)
        changed = changed_paths(self._checkout_before or {}, now)
        self._checkout_before = now
        return changed

    def close(self) -> list[str]:
        """End the run: the last page, then every object the run created."""
        problems = self.leave()
        if self._proxy is not None:
            problems += self._proxy.ledger.cleanup(self._client).problems
            self._proxy.close()
            self._proxy = None
        return problems

    def _connect(self):
        # Once the engine has not answered, every later page fails at once
        # with the same line, rather than each waiting for it again.
        if self._engine_error is not None:
            raise self._engine_error
        try:
            return connect()
        except EngineUnavailable as error:
            self._engine_error = error
            raise

    def _created_by(self, name: str) -> set[str]:
        return {block.title for block in self.page(name).blocks if block.kind == "file"}

    def _start_proxy(self):
        from .proxy import EngineProxy

        proxy = EngineProxy(upstream=upstream_socket())
        proxy.start()
        return proxy
