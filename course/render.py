"""Rendering pages as the site does, with a map from rendered lines back to the source.

MkDocs loads the config and runs its plugins' events up to `page_markdown`,
where mkdocs-macros expands `{{ ... }}` with the site's own macros module and
variables. Nothing is built or written. This is the only module that knows
about MkDocs.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import jinja2
import mkdocs.config
import mkdocs.exceptions
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files, get_files, set_exclusions
from mkdocs.structure.nav import Navigation, get_navigation
from mkdocs.structure.pages import Page
from mkdocs_macros.plugin import MacrosPlugin

from course.linemap import map_lines

log = logging.getLogger("course")
macros_log = logging.getLogger("mkdocs.plugins.mkdocs_macros.util")

# What mkdocs-macros puts in place of a page when it fails and is not told
# to stop; kept as a second line of defence should a version ignore the setting.
MACROS_ERROR_HEADINGS = ("# _Macro Rendering Error_", "# _Macro Syntax Error_")

RAW_HINT = (
    "if the braces are not meant for the macros (a Docker --format template, say), "
    "write them between {% raw %} and {% endraw %}"
)


@dataclass(frozen=True)
class RenderedPage:
    """One page after the macros ran, and where each of its lines came from.

    `line_map[i]` is the 1-based line of the source file (front matter
    included) that rendered line `i` (0-based) came from. `macro_lines` are
    the source lines that hold Jinja, whose rendered text a macro made.
    """

    path: str
    location: str
    source_file: Path
    source: str
    text: str
    meta: Mapping[str, Any] = field(hash=False)
    line_map: tuple[int, ...]
    macro_lines: frozenset[int]

    def source_line(self, index: int) -> int:
        """The 1-based source line of the 0-based rendered line `index`."""
        if not self.line_map:
            return 1
        return self.line_map[min(index, len(self.line_map) - 1)]


class RenderError(Exception):
    """A page or the site's config could not be rendered; the message says where and why."""

    def __init__(self, location: str, line: int | None, problem: str) -> None:
        self.location = location
        self.line = line
        self.problem = problem
        where = location if line is None else f"{location}:{line}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class _Site:
    config: MkDocsConfig
    files: Files
    nav: Navigation
    root: Path
    macros: MacrosPlugin


def nav_pages(config_file: str | os.PathLike[str] = "mkdocs.yml") -> tuple[str, ...]:
    """The docs-relative paths of the site's pages, in nav order."""
    with _site(config_file) as site:
        return _nav_order(site)


def render_pages(
    config_file: str | os.PathLike[str] = "mkdocs.yml", pages: Iterable[str] | None = None
) -> tuple[RenderedPage, ...]:
    """Render `pages` (docs-relative paths, in the order given), or every page in nav order."""
    with _site(config_file) as site:
        wanted = _nav_order(site) if pages is None else tuple(pages)
        return tuple(_render(site, path) for path in wanted)


def render_page(config_file: str | os.PathLike[str], page: str) -> RenderedPage:
    """Render one page, given by its docs-relative path."""
    (rendered,) = render_pages(config_file, [page])
    return rendered


@contextmanager
def _site(config_file: str | os.PathLike[str]) -> Iterator[_Site]:
    """Load the config and run the plugins' events that come before reading pages."""
    shown = os.fspath(config_file)
    config = _load_config(shown)
    macros = _make_macros_strict(config, shown)

    config.plugins.on_startup(command="build", dirty=False)
    try:
        with _plugin_step(shown, "config"):
            config = config.plugins.on_config(config)
        with _plugin_step(shown, "pre_build"):
            config.plugins.on_pre_build(config=config)
        with _plugin_step(shown, "files"):
            files = get_files(config)
            files.add_files_from_theme(config.theme.get_env(), config)
            files = config.plugins.on_files(files, config=config)
            set_exclusions(files, config)
        with _plugin_step(shown, "nav"):
            nav = get_navigation(files, config)
            nav = config.plugins.on_nav(nav, config=config, files=files)

        root = Path(config.config_file_path).resolve().parent
        yield _Site(config, files, nav, root, macros)
    finally:
        config.plugins.on_shutdown()


def _load_config(shown: str) -> MkDocsConfig:
    # MkDocs logs the config's errors and then aborts with a bare "Aborted";
    # keep what it logged so the error says what is wrong.
    problems = _Collect(logging.WARNING)
    mkdocs_log = logging.getLogger("mkdocs")
    mkdocs_log.addHandler(problems)
    try:
        return mkdocs.config.load_config(shown)
    except mkdocs.exceptions.MkDocsException as error:
        details = "; ".join(problems.messages) or str(error)
        raise RenderError(shown, None, f"MkDocs cannot load this config: {details}") from None
    finally:
        mkdocs_log.removeHandler(problems)


def _make_macros_strict(config: MkDocsConfig, shown: str) -> MacrosPlugin:
    """Make every macro problem an error, whatever the config says.

    By default mkdocs-macros leaves an unknown name as it stands and, when a
    macro fails, logs a warning and puts the error text in place of the page.
    """
    macros = [plugin for plugin in config.plugins.values() if isinstance(plugin, MacrosPlugin)]
    if not macros:
        raise RenderError(
            shown,
            None,
            "the macros plugin is not configured, so pages would be tested with their "
            "{{ ... }} unexpanded; add `- macros` under `plugins:`",
        )

    for plugin in macros:
        plugin.config["on_undefined"] = "strict"
        plugin.config["on_error_fail"] = True
    return macros[0]


@contextmanager
def _plugin_step(shown: str, event: str) -> Iterator[None]:
    try:
        yield
    except RenderError:
        raise
    except (Exception, SystemExit) as error:
        cause = error.__context__ if isinstance(error, SystemExit) else error
        raise RenderError(
            shown, None, f"the plugins failed at their {event} step: {_describe(cause or error)}"
        ) from None


def _nav_order(site: _Site) -> tuple[str, ...]:
    return tuple(page.file.src_uri for page in site.nav.pages)


def _render(site: _Site, path: str) -> RenderedPage:
    config, files = site.config, site.files
    location = _location(site, path)
    file = files.get_file_from_path(path)
    if file is None or not file.is_documentation_page():
        known = ", ".join(f.src_uri for f in files.documentation_pages())
        raise RenderError(location, None, f"this is not a page of the site; its pages: {known}")

    log.debug("rendering %s", location)
    page = file.page or Page(None, file, config)
    body_offset = 0
    config._current_page = page
    try:
        with _macros_failing_quietly():
            page = config.plugins.on_pre_page(page, config=config, files=files)
            page.read_source(config)
            source = file.content_string
            body = page.markdown or ""
            body_offset = _front_matter_lines(source, body)
            text = config.plugins.on_page_markdown(body, page=page, config=config, files=files)
    except (Exception, SystemExit) as error:
        raise _render_error(location, body_offset, error) from None
    finally:
        config._current_page = None

    _refuse_error_text(location, text)
    line_map, macro_lines = map_lines(body, text, site.macros.env, body_offset)
    return RenderedPage(
        path=file.src_uri,
        location=location,
        source_file=Path(file.abs_src_path or Path(config.docs_dir) / file.src_path),
        source=source,
        text=text,
        meta=MappingProxyType(dict(page.meta)),
        line_map=line_map,
        macro_lines=macro_lines,
    )


@contextmanager
def _macros_failing_quietly() -> Iterator[None]:
    """Let a macro error reach us only as the exception that becomes a RenderError.

    mkdocs-macros also logs the error in full, and the exit() it then calls
    closes sys.stdin before raising SystemExit; so it gets a stand-in to close.
    """
    stdin, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO())
    macros_log.addFilter(_drop_macros_error_text)
    try:
        yield
    finally:
        macros_log.removeFilter(_drop_macros_error_text)
        sys.stdin = stdin


def _location(site: _Site, path: str) -> str:
    docs_dir = Path(site.config.docs_dir).resolve()
    try:
        return (docs_dir / path).relative_to(site.root).as_posix()
    except ValueError:
        return (docs_dir / path).as_posix()


def _front_matter_lines(source: str, body: str) -> int:
    """How many source lines come before the body MkDocs hands to the plugins."""
    if body and source.endswith(body):
        return source[: len(source) - len(body)].count("\n")
    return 0


def _render_error(location: str, body_offset: int, error: BaseException) -> RenderError:
    # With on_error_fail, mkdocs-macros catches the error and calls exit(),
    # so the error itself is the context of the SystemExit.
    if isinstance(error, SystemExit):
        if error.__context__ is None:
            return RenderError(location, None, f"a plugin stopped the build: {error}")
        error = error.__context__

    line = _template_line(error)
    source_line = None if line is None else line + body_offset
    return RenderError(location, source_line, _describe(error))


def _template_line(error: BaseException) -> int | None:
    """The line of the page's template where the error arose, if Jinja knows it."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return error.lineno

    line = None
    traceback: TracebackType | None = error.__traceback__
    while traceback is not None:
        # Jinja rewrites tracebacks so that template code shows as "<template>".
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _describe(error: BaseException) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"the macros cannot read this: {error.message}; {RAW_HINT}"
    if isinstance(error, jinja2.UndefinedError):
        return (
            f"{error.message}: every name a page uses must be a macro of the macros module "
            f"or a variable under `extra:` in mkdocs.yml; {RAW_HINT}"
        )
    return f"a macro raised {type(error).__name__}: {error}{_raised_at(error)}"


def _raised_at(error: BaseException) -> str:
    traceback = error.__traceback__
    if traceback is None:
        return ""
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    code = traceback.tb_frame.f_code
    if code.co_filename.startswith("<"):
        return ""
    shown = os.path.relpath(code.co_filename)
    if shown.startswith(".."):
        shown = code.co_filename
    return f" (at {shown}:{traceback.tb_lineno}, in {code.co_name})"


def _refuse_error_text(location: str, text: str) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith(MACROS_ERROR_HEADINGS):
            raise RenderError(
                location,
                None,
                f"mkdocs-macros rendered an error into the page (rendered line {number}: "
                f"{line}); run `mkdocs build` to see its message",
            )


def _drop_macros_error_text(record: logging.LogRecord) -> bool:
    """Keep mkdocs-macros from also logging the error that becomes our RenderError."""
    message = record.getMessage()
    return not any(heading in message for heading in MACROS_ERROR_HEADINGS)


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
